"""The project's pytest plugin, registered through the ``pytest11`` entry point."""

from __future__ import annotations

import pytest


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "requirement(*ids): the registered requirement ids this test verifies"
    )
