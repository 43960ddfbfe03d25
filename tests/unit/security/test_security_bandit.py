"""bandit fails on planted medium/high findings and passes their corrected twins (real bandit)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from testing import pins
from testing.security import bandit_scan
from testing.security.report import ScanError

SHELL_TRUE = """\
import subprocess


def run(command: str) -> int:
    return subprocess.call(command, shell=True)
"""
ARGV_ONLY = """\
import subprocess


def run(path: str) -> int:
    return subprocess.call(["ls", path], timeout=10)
"""
YAML_LOAD = """\
import yaml


def parse(text: str) -> object:
    return yaml.load(text)
"""
YAML_SAFE_LOAD = """\
import yaml


def parse(text: str) -> object:
    return yaml.safe_load(text)
"""


def plant(root: Path, source: str) -> None:
    (root / "pkg").mkdir(parents=True, exist_ok=True)
    (root / "pkg" / "mod.py").write_text(source)
    (root / "pyproject.toml").write_text('[tool.bandit]\ntargets = ["pkg"]\n')


@pytest.mark.parametrize(
    ("bad", "good", "test_id", "line"),
    [(SHELL_TRUE, ARGV_ONLY, "B602", 5), (YAML_LOAD, YAML_SAFE_LOAD, "B506", 5)],
    ids=["shell-true", "yaml-load"],
)
@pytest.mark.requirement("SEC-001")
def test_planted_finding_fails_and_twin_passes(
    tmp_path: Path, bad: str, good: str, test_id: str, line: int
) -> None:
    plant(tmp_path, bad)
    result = bandit_scan.scan(tmp_path, tmp_path / "reports")
    assert [(f.rule.split(":")[0], f.path, f.line) for f in result.findings] == [
        (test_id, "pkg/mod.py", line)
    ]
    sarif = json.loads((tmp_path / "reports" / "bandit.sarif").read_text())
    assert sarif["version"] == "2.1.0"
    assert test_id in {r["ruleId"] for r in sarif["runs"][0]["results"]}

    plant(tmp_path, good)
    clean = bandit_scan.scan(tmp_path, tmp_path / "reports")
    assert clean.findings == []
    assert clean.checked == 3  # lines of code: the scan really read the file


def test_nosec_is_a_visible_per_line_exception(tmp_path: Path) -> None:
    plant(tmp_path, SHELL_TRUE.replace("shell=True)", "shell=True)  # nosec B602"))
    result = bandit_scan.scan(tmp_path, tmp_path / "reports")
    assert result.findings == []
    assert "1 finding(s) suppressed by # nosec comments" in result.notes


def test_low_severity_is_reported_not_fatal_by_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SECURITY_BANDIT_SEVERITY", raising=False)
    plant(tmp_path, ARGV_ONLY)  # B404, B603 and B607 (partial path "ls") are LOW
    result = bandit_scan.scan(tmp_path, tmp_path / "reports")
    assert not result.failed
    assert result.notes == [
        "fails on MEDIUM, HIGH severity (SECURITY_BANDIT_SEVERITY=medium)",
        f"3 finding(s) below MEDIUM severity reported in {tmp_path / 'reports' / 'bandit.json'}, "
        "not fatal",
    ]


@pytest.mark.requirement("SEC-001")
def test_severity_low_makes_the_same_findings_fail(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SECURITY_BANDIT_SEVERITY", "low")
    plant(tmp_path, ARGV_ONLY)
    result = bandit_scan.scan(tmp_path, tmp_path / "reports")
    assert sorted(f.rule.split(":")[0] for f in result.findings) == ["B404", "B603", "B607"]
    assert result.notes[0] == "fails on LOW, MEDIUM, HIGH severity (SECURITY_BANDIT_SEVERITY=low)"
    monkeypatch.setenv("SECURITY_BANDIT_SEVERITY", "high")
    plant(tmp_path, YAML_LOAD)  # B506 is MEDIUM: below a high threshold
    assert bandit_scan.scan(tmp_path, tmp_path / "reports").findings == []


def test_an_unknown_severity_is_one_line(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("SECURITY_BANDIT_SEVERITY", "critical")
    plant(tmp_path, ARGV_ONLY)
    with pytest.raises(ScanError) as caught:
        bandit_scan.scan(tmp_path, tmp_path / "reports")
    assert str(caught.value) == (
        "SECURITY_BANDIT_SEVERITY='critical' is not a bandit severity: use low, medium or high"
    )


def test_unparsable_file_is_a_finding(tmp_path: Path) -> None:
    plant(tmp_path, "def broken(:\n")
    result = bandit_scan.scan(tmp_path, tmp_path / "reports")
    assert [f.rule for f in result.findings] == ["bandit-error"]


def test_missing_targets_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[tool.bandit]\ntargets = ["nowhere"]\n')
    with pytest.raises(ScanError, match=r"none of the bandit targets \['nowhere'\] exist"):
        bandit_scan.scan(tmp_path, tmp_path / "reports")


def test_repository_targets_come_from_pyproject() -> None:
    assert bandit_scan.configured_targets(pins.REPO_ROOT / "pyproject.toml") == [
        "testing",
        "demo",
        "noxfile.py",
    ]


def test_cli_exits_1_with_the_finding(tmp_path: Path) -> None:
    plant(tmp_path, SHELL_TRUE)
    done = subprocess.run(
        [sys.executable, "-m", "testing.security", "bandit", "--root", str(tmp_path),
         "--reports", str(tmp_path / "reports")],
        capture_output=True, text=True, timeout=120, check=False, cwd=pins.REPO_ROOT,
    )  # fmt: skip
    assert done.returncode == 1, done.stderr
    assert "pkg/mod.py:5: [B602:subprocess_popen_with_shell_equals_true] HIGH" in done.stdout
    assert done.stdout.splitlines()[-1].startswith("security bandit: 1 finding(s) in 3 lines")
    summary = json.loads((tmp_path / "reports" / "bandit.result.json").read_text())
    assert summary["failed"] is True
