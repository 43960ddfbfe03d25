"""pytest plugin modules, each loaded by ``testing.pytest_plugin``."""
