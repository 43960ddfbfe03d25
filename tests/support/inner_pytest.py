"""Run a separate pytest process on a test file, as a user would (for fixture teardown checks)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from testing.services.endpoints import given_to_this_process

INNER_TIMEOUT_S = 300


@dataclass(frozen=True)
class InnerRun:
    returncode: int
    output: str


def run_inner_pytest(
    directory: Path, source: str, *args: str, env: Mapping[str, str | None] | None = None
) -> InnerRun:
    (directory / "test_inner.py").write_text(source)
    environ = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("PYTEST_XDIST", "PYTEST_CURRENT"))
    }
    # The outer run's --local-services endpoints, handed on explicitly: they are not in
    # os.environ, which every child would inherit.
    environ.update(given_to_this_process())
    environ["TEST_RESULTS_JSON"] = str(directory / "results.json")
    for key, value in (env or {}).items():
        if value is None:
            environ.pop(key, None)
        else:
            environ[key] = value
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "no:cacheprovider",
            "-q",
            "-rA",
            "--rootdir",
            str(directory),
            str(directory / "test_inner.py"),
            *args,
        ],
        cwd=directory,
        env=environ,
        capture_output=True,
        text=True,
        timeout=INNER_TIMEOUT_S,
        check=False,
    )
    return InnerRun(result.returncode, result.stdout + result.stderr)
