"""nox, uv and Go are pinned once (k8s/versions.toml), and every CI entry point reads that pin.

GitHub Actions cannot run here, so the workflow is read as data: these tests check
that each job takes its versions from the pins step and that every job that runs
tests hands its results to the traceability job. The pins command itself runs for
real, on an interpreter without site-packages, as the workflow's first step does.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
WORKFLOW = ROOT / ".github" / "workflows" / "ci.yml"
PINS = tomllib.loads((ROOT / "k8s" / "versions.toml").read_text())["ci-tools"]

pytestmark = pytest.mark.requirement("CI-006")


def jobs() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(WORKFLOW.read_text())
    return dict(data["jobs"])


def steps(job: str) -> list[dict[str, Any]]:
    return list(jobs()[job]["steps"])


def pins_cli(*args: str) -> str:
    proc = subprocess.run(
        [sys.executable, "-S", "-E", "-m", "testing.pins", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    return proc.stdout.strip()


def test_the_pins_command_needs_only_the_standard_library() -> None:
    assert pins_cli("requirement", "nox", "uv") == f"nox=={PINS['nox']} uv=={PINS['uv']}"
    assert pins_cli("get", "ci-tools", "go") == PINS["go"]


@pytest.mark.parametrize("path", [WORKFLOW, ROOT / ".ci" / "run"])
def test_no_ci_entry_point_names_a_nox_uv_or_go_version_of_its_own(path: Path) -> None:
    text = path.read_text()
    assert re.findall(r"\b(?:nox|uv)\s*[=<>~!]=", text) == []
    assert re.findall(r"go-version:\s*['\"]?\d", text) == []
    assert "python3 -m testing.pins" in text


def test_every_job_installs_what_the_pins_step_read() -> None:
    for name, job in jobs().items():
        ids = [step.get("id") for step in job["steps"]]
        assert "pins" in ids, f"job {name} has no pins step"
        for step in job["steps"]:
            uses = str(step.get("uses", ""))
            run = str(step.get("run", ""))
            if uses.startswith("astral-sh/setup-uv@"):
                assert step["with"]["version"] == "${{ steps.pins.outputs.uv }}", name
            if uses.startswith("actions/setup-go@"):
                assert step["with"]["go-version"] == "${{ steps.pins.outputs.go }}", name
            if "uvx" in run:
                assert 'uvx --from "${NOX}" nox' in run, name
                assert step["env"]["NOX"] == "${{ steps.pins.outputs.nox }}", name


def test_the_readme_installs_the_pinned_tools_and_names_the_pinned_go() -> None:
    readme = (ROOT / "README.md").read_text()
    assert "python3 -m pip install --user $(python3 -m testing.pins requirement nox uv)" in readme
    assert re.findall(r"Go (\d+\.\d+)", readme) == [PINS["go"]]


def uploads_results(job: str) -> bool:
    return any(
        str(step.get("uses", "")).startswith("actions/upload-artifact@")
        and step["with"]["path"] == "artifacts/traceability/results.json"
        and step["with"]["name"].startswith("traceability-results-")
        and step.get("if") == "always()"
        for step in steps(job)
    )


def test_every_test_job_hands_its_results_to_the_traceability_job() -> None:
    test_jobs = [name for name, job in jobs().items() if name not in ("sessions", "traceability")]
    assert sorted(test_jobs) == ["e2e", "integration", "nox"]
    assert [job for job in test_jobs if not uploads_results(job)] == []
    matrix = jobs()["traceability"]
    assert sorted(matrix["needs"]) == sorted(test_jobs)
    download = next(s for s in matrix["steps"] if "download-artifact@" in str(s.get("uses")))
    assert download["with"] == {
        "pattern": "traceability-results-*",
        "path": "artifacts/traceability/jobs",
    }
    run = next(s for s in matrix["steps"] if "nox -s traceability" in str(s.get("run")))
    assert run["env"]["TRACEABILITY_RESULTS"] == "artifacts/traceability/jobs/*/results.json"
    listing = next(s for s in steps("sessions") if s.get("id") == "list")["run"]
    assert 'select(.name != "traceability")' in listing
