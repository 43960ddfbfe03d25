"""``needs_root`` tests are deselected, by name, for a user who is not root, and run for root.

Both runs are real pytest processes with the project's plugin: as root, and as a
user who is not root (``nobody`` when this runs as root, as CI does; the current user
otherwise), so no uid is faked.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.unprivileged import OtherUser, not_root, shared_directory

#: What a bare pytest imports, copied where nobody can read it.
PYTEST_PACKAGES = ("pytest", "_pytest", "pluggy", "iniconfig", "packaging", "pygments", "py")

TESTS = """\
import os

import pytest


@pytest.mark.needs_root
def test_makes_a_namespace():
    assert os.geteuid() == 0


def test_adds():
    assert 1 + 1 == 2
"""


def run_pytest(tree: Path, user: OtherUser | None) -> subprocess.CompletedProcess[str]:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(tree),
        "PYTHONDONTWRITEBYTECODE": "1",
        "TEST_RESULTS_JSON": str(tree / "results.json"),
        **(user.env if user else {}),
    }
    python = user.python if user else [sys.executable]
    options = user.subprocess_options if user else {}
    return subprocess.run(  # type: ignore[call-overload, no-any-return]
        # The plugin module itself, not the project's entry point: as nobody only pytest
        # and the ``testing`` package are on the path.
        [
            *python,
            "-m",
            "pytest",
            "-p",
            "no:cacheprovider",
            "-p",
            "no:k8s_test_platform",
            "-p",
            "testing.plugins.privileges",
            "test_tree.py",
        ],
        cwd=tree,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        **options,
    )


@pytest.fixture
def tree() -> Iterator[Path]:
    with shared_directory() as path:
        (path / "test_tree.py").write_text(TESTS)
        (path / "test_tree.py").chmod(0o644)
        yield path


def test_a_user_who_is_not_root_gets_one_line_naming_what_was_deselected(tree: Path) -> None:
    result = run_pytest(tree, not_root(tree / "site", PYTEST_PACKAGES))
    assert result.returncode == 0, result.stdout + result.stderr
    assert (
        "deselected 1 test(s) that need root (run as root to include them): "
        "test_tree.py::test_makes_a_namespace"
    ) in result.stdout
    assert "1 passed, 1 deselected" in result.stdout
    assert "not root: tests marked needs_root are deselected (run as root to include them)" in (
        result.stdout
    )


@pytest.mark.skipif(os.geteuid() != 0, reason="the root half needs root")
def test_root_runs_them(tree: Path) -> None:
    result = run_pytest(tree, None)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 passed" in result.stdout
    assert "need root" not in result.stdout
