"""A hung ``initdb`` ends ``python -m testing.services`` in one line, not a traceback.

initdb is faked by a script that never finishes: a real initdb cannot be made to
hang on demand. Everything else (the CLI, the servers' temp dirs) is real.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

from testing.services import __main__ as services_cli
from testing.services import local


def test_initdb_timeout_is_one_line_and_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    initdb = bin_dir / "initdb"
    initdb.write_text("#!/bin/sh\necho 'creating directories ... ok'\nexec sleep 60\n")
    initdb.chmod(0o755)
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setattr(local, "_pg_binary", lambda name: str(bin_dir / name))
    monkeypatch.setattr(local, "INITDB_TIMEOUT_S", 1)
    monkeypatch.setattr(os, "geteuid", lambda: 1000)  # run the fake as ourselves, not postgres
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))

    code = services_cli.main(["run", "--", "true"])

    err = capsys.readouterr().err
    assert code == 2
    assert "Traceback" not in err
    assert err.count("\n") == 1
    assert err.startswith("error: initdb did not finish within 1s (data dir ")
    assert "its last output: creating directories ... ok)" in err
    assert list(scratch.iterdir()) == []  # both servers' temp dirs are gone
