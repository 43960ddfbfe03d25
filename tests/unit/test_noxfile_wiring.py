"""The noxfile's own behaviour: no process at import, one flag parser, posargs only to pytest.

The noxfile is imported for real (as nox does); sessions are called with a recording
stand-in for ``nox.Session`` because what is checked is which commands a session asks
for, not what those commands do (the gates' own tests run them for real).
"""

from __future__ import annotations

import importlib.util
import subprocess
from pathlib import Path
from types import ModuleType
from typing import Any

import nox
import pytest

from testing.envflags import FlagError, flag

REPO = Path(__file__).resolve().parents[2]


def _import_noxfile() -> ModuleType:
    """A fresh import, as nox does it; nox's session registry is left as it was."""
    spec = importlib.util.spec_from_file_location("noxfile_under_test", REPO / "noxfile.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    saved = dict(nox.registry._REGISTRY)
    nox.registry._REGISTRY.clear()
    try:
        spec.loader.exec_module(module)
    finally:
        nox.registry._REGISTRY.clear()
        nox.registry._REGISTRY.update(saved)
    return module


class Recorder:
    """Records ``session.run`` argv; ``posargs`` as a user's ``nox -- -k x`` sets them."""

    def __init__(self, posargs: list[str]) -> None:
        self.posargs = posargs
        self.runs: list[tuple[str, ...]] = []
        self.virtualenv = type("Venv", (), {"location": "/nonexistent"})()

    def run(self, *args: str, **_: Any) -> None:
        self.runs.append(args)

    def run_install(self, *args: str, **_: Any) -> None:
        self.runs.append(args)

    def error(self, message: str) -> None:
        raise AssertionError(message)


def test_importing_the_noxfile_starts_no_process(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError(f"the noxfile started a process at import: {args[:1]}")

    monkeypatch.setattr(subprocess, "Popen", refuse)
    monkeypatch.setattr(subprocess, "run", refuse)
    module = _import_noxfile()
    assert module.PYTHON in module.ALL_PYTHONS


def test_lint_and_typecheck_ignore_posargs_that_are_meant_for_pytest() -> None:
    module = _import_noxfile()
    for session in (module.lint, module.typecheck, module.unit):
        recorder = Recorder(["-k", "planted"])
        session.func(recorder)
        tools = [run for run in recorder.runs if run[0] in {"ruff", "mypy", "pytest"}]
        assert tools, session.func.__name__
        for run in tools:
            assert ("-k" in run) == (run[0] == "pytest"), run


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        *[(yes, True) for yes in ("1", "true", "YES", "on")],
        *[(no, False) for no in ("0", "false", "no", "off", "")],
    ],
)
def test_keep_cluster_reads_the_same_in_the_noxfile_and_the_plugin(
    monkeypatch: pytest.MonkeyPatch, value: str, expected: bool
) -> None:
    from testing.plugins import k8s_fixtures  # noqa: PLC0415 - after the env is set

    monkeypatch.setenv("TEST_KEEP_CLUSTER", value)
    noxfile = _import_noxfile()
    assert noxfile.keep_cluster(Recorder([])) is expected
    assert k8s_fixtures._keep_cluster_default() is expected


def test_a_keep_cluster_value_that_is_not_yes_or_no_is_one_error_line(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from testing.plugins import k8s_fixtures  # noqa: PLC0415

    monkeypatch.setenv("TEST_KEEP_CLUSTER", "keep")
    with pytest.raises(FlagError, match=r"^TEST_KEEP_CLUSTER='keep' is not a yes/no value"):
        flag("TEST_KEEP_CLUSTER")
    with pytest.raises(pytest.UsageError, match="set it to 1 or 0"):
        k8s_fixtures._keep_cluster_default()
    with pytest.raises(AssertionError, match="set it to 1 or 0"):
        _import_noxfile().keep_cluster(Recorder([]))


def test_on_the_cluster_runs_down_itself_even_when_tests_fail(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``session.notify`` raises under --no-dependencies; ``down`` must not depend on it."""
    monkeypatch.delenv("TEST_KEEP_CLUSTER", raising=False)
    noxfile = _import_noxfile()
    recorder = Recorder([])
    with pytest.raises(nox.command.CommandFailed), noxfile.on_the_cluster(recorder):
        raise nox.command.CommandFailed("planted test failure")
    assert recorder.runs[-1] == ("python", "-m", "testing.cluster", "down")
    assert ("python", "-m", "testing.cluster", "export-logs") in recorder.runs


def test_pyenv_shims_count_only_for_selected_versions(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    shims = tmp_path / "shims"
    shims.mkdir()
    for version in ("3.11", "3.12"):
        shim = shims / f"python{version}"
        shim.write_text("#!/bin/sh\nexit 127\n")
        shim.chmod(0o755)
    monkeypatch.setenv("PATH", str(shims))
    monkeypatch.setenv("PYENV_VERSION", "3.12.7")
    monkeypatch.setenv("PYENV_ROOT", str(tmp_path / "no-root"))
    monkeypatch.chdir(tmp_path)
    noxfile = _import_noxfile()
    assert [noxfile._runs(v) for v in ("3.11", "3.12", "3.13")] == [False, True, False]
