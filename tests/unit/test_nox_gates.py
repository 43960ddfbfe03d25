"""The default ``nox`` run fails on a planted lint error, type error and failing unit test.

It runs the real nox, uv, ruff, mypy and pytest on a small copy of the repository, with
one planted defect per gate, and checks that each session failed *because of its
planted defect* (the output names it), not for another reason.

The copy for the planted gates lives in the user's cache under a digest of what the
session environments are built from (``uv.lock``, ``pyproject.toml``, ``noxfile.py``),
so its three environments and mypy's cache are built once and reused, as a contributor's
own ``.nox`` is; every file of the copy is written afresh on each run (measured: 54 s with
new environments, 5 s reusing them).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from filelock import FileLock

from testing import tools

REPO = Path(__file__).resolve().parents[2]
#: What the lint, typecheck and unit sessions read; enough for them to run in a copy.
NEEDED = [
    "pyproject.toml",
    "uv.lock",
    "noxfile.py",
    "README.md",
    "testing/__init__.py",
    "testing/py.typed",
    "testing/polling.py",
    "testing/envflags.py",
    "testing/pins.py",
    "testing/tools.py",
    "testing/pytest_plugin.py",
    "testing/plugins/__init__.py",
    "k8s/versions.toml",
    ".github/workflows/ci.yml",
    "tests/unit/test_polling.py",
]

PLANTS = {
    "testing/planted_lint.py": '"""Planted."""\n\nimport os\n',  # F401: unused import
    "testing/planted_type.py": '"""Planted."""\n\n\ndef half(x: int) -> int:\n    return x / 2\n',
    "tests/unit/test_planted.py": "def test_planted_failure() -> None:\n    assert 1 + 1 == 3\n",
}


#: What a reused copy keeps between runs: the session environments and the tools' caches.
REUSED = {".nox", ".mypy_cache", ".ruff_cache"}


def reused_copy_dir() -> Path:
    """The cached copy's directory for the current inputs of the session environments."""
    digest = hashlib.sha256()
    for name in ("uv.lock", "pyproject.toml", "noxfile.py"):
        digest.update(name.encode() + b"\0" + (REPO / name).read_bytes())
    return tools.cache_dir() / "nox-gates" / digest.hexdigest()[:16]


def empty_but_reused(workdir: Path) -> None:
    """Remove all but :data:`REUSED`, so nothing a previous version of this test wrote
    into the copy is left."""
    workdir.mkdir(parents=True, exist_ok=True)
    for entry in workdir.iterdir():
        if entry.name in REUSED:
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()


def copy_repo(destination: Path) -> None:
    demo = [str(p.relative_to(REPO)) for p in (REPO / "demo").rglob("*.py")]
    for relative in [*NEEDED, *demo]:
        target = destination / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / relative, target)
    # The plugin list may name modules that are not copied; the copy needs none of them.
    (destination / "testing/pytest_plugin.py").write_text("pytest_plugins: list[str] = []\n")


def run_nox(
    workdir: Path, *sessions: str
) -> tuple[subprocess.CompletedProcess[str], dict[str, str]]:
    report = workdir / "report.json"
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("NOX_", "PYTEST_", "VIRTUAL_ENV"))
    }
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "nox",
            "--envdir",
            str(workdir / ".nox"),
            "--report",
            str(report),
            "-s",
            *sessions,
        ],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    outcomes = {s["name"]: s["result"] for s in json.loads(report.read_text())["sessions"]}
    return result, outcomes


@pytest.mark.requirement("CI-003")
def test_each_default_gate_fails_on_its_planted_defect() -> None:
    workdir = reused_copy_dir()
    workdir.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(workdir.with_suffix(".lock")), timeout=900):  # another run may use it
        for outdated in workdir.parent.iterdir():  # copies for an older uv.lock or noxfile
            if outdated.is_dir() and outdated != workdir:
                with FileLock(str(outdated.with_suffix(".lock")), timeout=900):
                    shutil.rmtree(outdated, ignore_errors=True)
        empty_but_reused(workdir)
        copy_repo(workdir)
        for relative, text in PLANTS.items():
            (workdir / relative).write_text(text)
        result, outcomes = run_nox(workdir, "lint", "typecheck", "unit-3.11")
    output = result.stdout + result.stderr

    assert result.returncode != 0
    assert outcomes == {"lint": "failed", "typecheck": "failed", "unit": "failed"}, output
    assert "F401 [*] `os` imported but unused\n --> testing/planted_lint.py:3:8" in output
    assert "testing/planted_type.py:5: error: Incompatible return value type" in output
    assert "FAILED tests/unit/test_planted.py::test_planted_failure" in output


@pytest.mark.requirement("CI-004")
def test_stale_lock_fails_with_one_line_that_says_uv_lock(tmp_path: Path) -> None:
    copy_repo(tmp_path)
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text(
        pyproject.read_text().replace('"pyyaml>=6.0.1",', '"pyyaml>=6.0.1",\n    "six",')
    )

    result, outcomes = run_nox(tmp_path, "typecheck")

    assert outcomes == {"typecheck": "aborted"}
    assert (
        "uv.lock is out of date with pyproject.toml: run `uv lock` and commit it" in result.stderr
    )
