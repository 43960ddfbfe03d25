"""The last outcome of every test, kept in one JSON file across pytest runs.

The pytest plugin merges each run's outcomes into this file (a unit run must not
erase what the integration run recorded), and the traceability report reads it
to show requirement -> tests -> last result. A test that never ran here shows
"not run", which is the honest answer for an offline report.

Format::

    {"version": 1, "tests": {"<nodeid>": {"outcome": "passed", "finished": "<iso time>",
                                          "tier": "unit", "requirements": ["CI-001"]}}}
"""

from __future__ import annotations

import contextlib
import fcntl
import glob
import json
import os
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

#: Where the plugin writes and the report reads; relative paths are from the repository root.
RESULTS_ENV = "TEST_RESULTS_JSON"
#: For the report only: a glob of results files from several jobs, merged (CI sets it).
MERGE_ENV = "TRACEABILITY_RESULTS"
DEFAULT_RESULTS = Path("artifacts/traceability/results.json")
VERSION = 1

#: Outcomes as recorded: ``error`` is a failure outside the test body (setup or teardown).
OUTCOMES = ("passed", "failed", "error", "skipped")
NOT_RUN = "not run"


class ResultsError(ValueError):
    """The results file exists but cannot be read."""


def results_path(root: Path, explicit: str | None = None) -> Path:
    """The results file: ``explicit``, else ``$TEST_RESULTS_JSON``, else the default."""
    chosen = Path(explicit or os.environ.get(RESULTS_ENV) or DEFAULT_RESULTS)
    return chosen if chosen.is_absolute() else root / chosen


def read_results(path: Path) -> dict[str, dict[str, Any]]:
    """Return nodeid -> record, or an empty mapping when the file does not exist."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise ResultsError(f"{path}: cannot read test results: {exc}") from None
    if not isinstance(data, dict) or data.get("version") != VERSION:
        raise ResultsError(f"{path}: not a version-{VERSION} results file; delete it")
    tests = data.get("tests")
    if not isinstance(tests, dict):
        raise ResultsError(f"{path}: has no 'tests' mapping; delete it")
    return {str(k): v for k, v in tests.items() if isinstance(v, dict)}


def report_paths(root: Path, explicit: list[str] | None) -> list[Path]:
    """The results files the report reads: ``--results`` given, else ``$TRACEABILITY_RESULTS``
    (a glob, one file per CI job), else the one file the plugin writes.

    A glob that matches nothing is an error: a CI job whose results never arrived
    must not pass as "not run".
    """
    if explicit:
        return [results_path(root, given) for given in explicit]
    pattern = os.environ.get(MERGE_ENV)
    if not pattern:
        return [results_path(root)]
    absolute = pattern if Path(pattern).is_absolute() else str(root / pattern)
    found = sorted(Path(match) for match in glob.glob(absolute))
    if not found:
        raise ResultsError(f"${MERGE_ENV}={pattern} matches no results file")
    return found


def read_merged(paths: list[Path]) -> dict[str, dict[str, Any]]:
    """Results of several runs (one file per CI job) as one: the latest record of a test wins.

    A test that ran in two jobs keeps the record that finished last, whatever the
    order of ``paths``; a missing file adds nothing.
    """
    merged: dict[str, dict[str, Any]] = {}
    for path in paths:
        for nodeid, record in read_results(path).items():
            known = merged.get(nodeid)
            if known is None or str(record.get("finished", "")) > str(known.get("finished", "")):
                merged[nodeid] = record
    return merged


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """Serialise writers (two sessions finishing at once) with a lock file beside ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with (path.parent / f".{path.name}.lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def merge_results(path: Path, records: Mapping[str, Mapping[str, Any]]) -> None:
    """Merge ``records`` into the file at ``path``, atomically; newer records win."""
    with _locked(path):
        try:
            tests = read_results(path)
        except ResultsError:
            tests = {}  # a corrupt file is replaced rather than blocking every run
        tests.update({k: dict(v) for k, v in records.items()})
        payload = json.dumps({"version": VERSION, "tests": tests}, indent=1, sort_keys=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(payload + "\n")
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
