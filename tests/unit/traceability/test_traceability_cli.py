"""``python -m testing.traceability`` on small generated repositories.

Each test writes a registry and a few test files under tmp_path and runs the
real gate, which collects them with a real ``pytest --collect-only`` subprocess.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from testing.traceability.__main__ import main

pytestmark = pytest.mark.requirement("TRC-004")

REGISTRY = """\
requirements:
  - id: A-001
    tier: unit
    statement: adds numbers
  - id: B-001
    tier: integration
    statement: stores a row
"""
UNIT = """\
import pytest


@pytest.mark.requirement("A-001")
def test_adds():
    assert 1 + 1 == 2
"""
INTEGRATION = """\
import pytest


@pytest.mark.requirement("{rid}")
@pytest.mark.parametrize("n", [1, 2])
def test_stores(n, database):
    assert database.store(n) == n
"""
# A fixture that would start something: collection must never run it.
CONFTEST = """\
import pathlib

import pytest


@pytest.fixture(scope="session")
def database():
    pathlib.Path(__file__).with_name("STARTED").write_text("started")
    raise RuntimeError("no database here")
"""


def repo(root: Path, overrides: dict[str, str] | None = None) -> Path:
    files = {
        "tests/requirements.yaml": REGISTRY,
        "tests/unit/test_a.py": UNIT,
        "tests/integration/conftest.py": CONFTEST,
        "tests/integration/test_b.py": INTEGRATION.format(rid="B-001"),
        **(overrides or {}),
    }
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


def run(root: Path, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, list[str]]:
    code = main(["--root", str(root), *args])
    return code, capsys.readouterr().out.splitlines()


def test_clean_repository_passes_and_writes_both_reports(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = repo(tmp_path)
    code, lines = run(root, capsys)
    assert lines == [
        "traceability: PASS: 2/2 registered requirements have a test (100.0%, threshold 100%; "
        "unit 1/1, integration 1/1); 3 tests collected; "
        f"report in {root / 'artifacts/traceability'}"
    ]
    assert code == 0
    assert not (root / "tests/integration/STARTED").exists()  # collecting started nothing
    data = json.loads((root / "artifacts/traceability/traceability.json").read_text())
    assert [(r["id"], r["status"], len(r["tests"])) for r in data["requirements"]] == [
        ("A-001", "not run", 1),
        ("B-001", "not run", 2),
    ]
    markdown = (root / "artifacts/traceability/traceability.md").read_text()
    assert "**PASS**: 2/2 registered requirements have at least one test" in markdown
    assert "tests show 'not run'" in markdown


def test_requirement_without_test_fails(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = repo(tmp_path, {"tests/unit/test_a.py": UNIT.replace('"A-001"', '"B-001"')})
    code, lines = run(root, capsys)
    assert code == 1
    assert lines[:2] == [
        'traceability: A-001 [unit] has no test: "adds numbers"; mark the test that verifies it '
        'with @pytest.mark.requirement("A-001")',
        "traceability: coverage 50.0% (1/2 registered requirements have a test) is below the "
        "threshold 100%",
    ]
    assert lines[2].startswith("traceability: FAIL: 1/2 registered requirements have a test")


def test_threshold_from_environment_lets_partial_coverage_pass(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    root = repo(tmp_path, {"tests/unit/test_a.py": UNIT.replace('"A-001"', '"B-001"')})
    monkeypatch.setenv("TRACEABILITY_THRESHOLD", "50")
    code, lines = run(root, capsys)
    assert code == 0
    assert lines[0].startswith("traceability: warning: A-001 [unit] has no test")
    assert lines[1].startswith("traceability: PASS: 1/2 registered requirements")


def test_unknown_id_and_unmarked_integration_test_fail(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    unmarked = "def test_bare(database):\n    assert database.count() == 0\n"
    root = repo(
        tmp_path,
        {
            "tests/integration/test_b.py": INTEGRATION.format(rid="B-002"),
            "tests/integration/test_c.py": unmarked,
        },
    )
    code, lines = run(root, capsys, "--threshold", "0")
    assert code == 1
    assert lines[:2] == [
        "traceability: tests/integration/test_b.py:4: test_stores names unknown requirement "
        "'B-002'; register it in the registry or fix the id",
        "traceability: tests/integration/test_c.py:1: test_bare names no requirement; "
        'integration tests need @pytest.mark.requirement("ID") with an id from the registry',
    ]


def test_collection_error_fails_the_gate(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = repo(tmp_path, {"tests/unit/test_z.py": "import no_such_module_here\n"})
    code, lines = run(root, capsys)
    assert code == 1
    assert lines[0] == (
        "traceability: tests/unit/test_z.py: failed to collect (ModuleNotFoundError: No module "
        "named 'no_such_module_here'); its tests are missing from the matrix"
    )


@pytest.mark.requirement("TRC-005")
def test_last_results_are_shown_and_step_summary_is_appended(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    root = repo(tmp_path)
    results = tmp_path / "results.json"
    results.write_text(
        json.dumps(
            {
                "version": 1,
                "tests": {
                    "tests/unit/test_a.py::test_adds": {"outcome": "passed"},
                    "tests/integration/test_b.py::test_stores[1]": {"outcome": "passed"},
                    "tests/integration/test_b.py::test_stores[2]": {"outcome": "failed"},
                },
            }
        )
    )
    summary = tmp_path / "summary.md"
    monkeypatch.setenv("TEST_RESULTS_JSON", str(results))
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    code, _ = run(root, capsys, "--out", str(tmp_path / "out"))
    assert code == 0
    data = json.loads((tmp_path / "out/traceability.json").read_text())
    assert [(r["id"], r["status"]) for r in data["requirements"]] == [
        ("A-001", "passed"),
        ("B-001", "failed"),
    ]
    text = summary.read_text()
    assert text == (tmp_path / "out/traceability.md").read_text() + "\n"
    assert "`tests/integration/test_b.py::test_stores[2]` (failed)" in text


def job_results(path: Path, tests: dict[str, tuple[str, str]]) -> None:
    """One CI job's results file: nodeid -> (outcome, finished)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    records = {node: {"outcome": o, "finished": f} for node, (o, f) in tests.items()}
    path.write_text(json.dumps({"version": 1, "tests": records}))


@pytest.mark.requirement("TRC-005")
def test_results_of_several_ci_jobs_are_merged_by_a_glob(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The GitHub traceability job downloads one results file per job and merges them."""
    root = repo(tmp_path)
    jobs = tmp_path / "artifacts/traceability/jobs"
    job_results(jobs / "unit/results.json", {"tests/unit/test_a.py::test_adds": ("passed", "1")})
    job_results(
        jobs / "integration/results.json",
        {
            "tests/integration/test_b.py::test_stores[1]": ("failed", "2026-12-07T10:00"),
            "tests/integration/test_b.py::test_stores[2]": ("passed", "2026-12-07T10:00"),
        },
    )
    # A later re-run of the integration job's flaky case, uploaded under a name that sorts first.
    job_results(
        jobs / "a-rerun/results.json",
        {"tests/integration/test_b.py::test_stores[1]": ("passed", "2026-12-07T11:00")},
    )
    monkeypatch.setenv("TRACEABILITY_RESULTS", "artifacts/traceability/jobs/*/results.json")
    code, _ = run(root, capsys, "--out", str(tmp_path / "out"))
    assert code == 0
    data = json.loads((tmp_path / "out/traceability.json").read_text())
    assert [(r["id"], r["status"]) for r in data["requirements"]] == [
        ("A-001", "passed"),
        ("B-001", "passed"),
    ]
    markdown = (tmp_path / "out/traceability.md").read_text()
    assert "`artifacts/traceability/jobs/a-rerun/results.json`" in markdown

    monkeypatch.setenv("TRACEABILITY_RESULTS", "artifacts/nothing/*/results.json")
    code = main(["--root", str(root), "--out", str(tmp_path / "out")])
    assert code == 2
    assert capsys.readouterr().err.strip() == (
        "traceability: error: $TRACEABILITY_RESULTS=artifacts/nothing/*/results.json "
        "matches no results file"
    )


def test_invalid_registry_is_one_line_and_exit_2(tmp_path: Path) -> None:
    root = repo(tmp_path, {"tests/requirements.yaml": REGISTRY + "  - id: A-001\n    tier: unit\n"})
    proc = subprocess.run(
        [sys.executable, "-m", "testing.traceability"],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 2
    assert proc.stderr.splitlines() == [
        "traceability: error: tests/requirements.yaml:8: entry 3 (A-001) has no statement"
    ]
