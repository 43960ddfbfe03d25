"""The results file: runs of different tiers merge into it, and a broken file is named."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from testing.traceability.results import (
    ResultsError,
    merge_results,
    read_results,
    results_path,
)

pytestmark = pytest.mark.requirement("TRC-005")


def test_runs_merge_and_the_newer_outcome_wins(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "results.json"
    merge_results(path, {"a::x": {"outcome": "passed"}, "b::y": {"outcome": "failed"}})
    merge_results(path, {"b::y": {"outcome": "passed"}, "c::z": {"outcome": "error"}})
    assert read_results(path) == {
        "a::x": {"outcome": "passed"},
        "b::y": {"outcome": "passed"},
        "c::z": {"outcome": "error"},
    }
    assert [p.name for p in path.parent.iterdir() if not p.name.startswith(".")] == ["results.json"]


def test_missing_file_means_nothing_ran(tmp_path: Path) -> None:
    assert read_results(tmp_path / "none.json") == {}


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("{not json", "cannot read test results"),
        ('{"version": 7, "tests": {}}', "not a version-1 results file; delete it"),
        ('{"version": 1}', "has no 'tests' mapping; delete it"),
    ],
)
def test_unreadable_file_is_named(tmp_path: Path, content: str, problem: str) -> None:
    path = tmp_path / "r.json"
    path.write_text(content)
    with pytest.raises(ResultsError, match=problem) as caught:
        read_results(path)
    assert str(caught.value).startswith(f"{path}: ")


def test_corrupt_file_is_replaced_by_the_next_run(tmp_path: Path) -> None:
    path = tmp_path / "r.json"
    path.write_text("{truncated")
    merge_results(path, {"a::x": {"outcome": "skipped"}})
    assert json.loads(path.read_text()) == {"version": 1, "tests": {"a::x": {"outcome": "skipped"}}}


def test_path_option_beats_environment_beats_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TEST_RESULTS_JSON", raising=False)
    assert results_path(tmp_path) == tmp_path / "artifacts/traceability/results.json"
    monkeypatch.setenv("TEST_RESULTS_JSON", "env.json")
    assert results_path(tmp_path) == tmp_path / "env.json"
    assert results_path(tmp_path, "/abs/opt.json") == Path("/abs/opt.json")
