"""``needs_root``: tests that only root can run are deselected, by name, for everyone else.

The local provider's tests create network namespaces, cgroups and mounts. A GitHub
runner runs the integration job as a user who is not root, and there such a test
could only fail for the wrong reason. Deselecting it, and saying so (in the report
header, and without xdist also in one line naming the tests), keeps that run honest:
nothing is skipped mid-run, and nothing that could run is left out.
"""

from __future__ import annotations

import os

import pytest

MARKER = "needs_root"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", f"{MARKER}: needs root (namespaces, cgroups, mounts); deselected for other users"
    )


def is_root() -> bool:
    return os.geteuid() == 0


def pytest_report_header(config: pytest.Config) -> str | None:
    """Said once at the top, also under xdist, whose workers deselect without a word."""
    del config
    if is_root():
        return None
    return (
        f"{MARKER}: running as uid {os.geteuid()}, not root: tests marked {MARKER} are "
        "deselected (run as root to include them)"
    )


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if is_root():
        return
    dropped = [item for item in items if item.get_closest_marker(MARKER) is not None]
    if not dropped:
        return
    items[:] = [item for item in items if item.get_closest_marker(MARKER) is None]
    config.hook.pytest_deselected(items=dropped)
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        names = ", ".join(item.nodeid for item in dropped)
        reporter.write_line(
            f"deselected {len(dropped)} test(s) that need root (run as root to include them): "
            f"{names}"
        )
