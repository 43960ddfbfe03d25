"""``python -m testing.quality``: fails with one line per finding, passes a clean tree."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from testing.quality.__main__ import main

pytestmark = pytest.mark.requirement("TRC-006")

CLEAN_UNIT = "def test_adds():\n    assert 1 + 1 == add(1, 1)\n"
CLEAN_INTEGRATION = (
    "import pytest\n\n\n"
    '@pytest.mark.requirement("X-001")\n'
    "def test_applies(api):\n"
    '    assert api.apply("pod").status == "Running"\n'
)
PLANTED_INTEGRATION = (
    "import time\n\nimport pytest\n\n\n"
    '@pytest.mark.skip(reason="later")\n'
    "def test_applies(api):\n"
    "    time.sleep(5)\n"
    '    assert api.apply("pod", dry_run=True) is not None\n'
)


def tree(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


def test_clean_tree_passes_with_full_scores(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tree(
        tmp_path,
        {"tests/unit/test_a.py": CLEAN_UNIT, "tests/integration/test_b.py": CLEAN_INTEGRATION},
    )
    assert main(["--root", str(root)]) == 0
    out = capsys.readouterr().out
    assert out.splitlines() == [
        "quality: PASS; score per tier: unit 100/100 (1 tests, 0 findings), "
        "integration 100/100 (1 tests, 0 findings)"
    ]


def test_planted_findings_fail_with_one_line_each(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tree(
        tmp_path,
        {"tests/unit/test_a.py": CLEAN_UNIT, "tests/integration/test_b.py": PLANTED_INTEGRATION},
    )
    report = tmp_path / "out" / "quality.json"
    assert main(["--root", str(root), "--json", str(report)]) == 1
    lines = capsys.readouterr().out.splitlines()
    located = [line.split(" ")[1:3] for line in lines[:-1]]
    assert located == [
        ["tests/integration/test_b.py:6:", "TQ006"],
        ["tests/integration/test_b.py:8:", "TQ003"],
        ["tests/integration/test_b.py:9:", "TQ001"],
        ["tests/integration/test_b.py:9:", "TQ002"],
    ]
    assert all("; why: " in line and "; fix: " in line for line in lines[:-1])
    # 100 (skip) + 50 (sleep) + 25 (existence) + 50 (dry run) for one test: floored at 0
    assert lines[-1] == (
        "quality: FAIL (4 findings); score per tier: unit 100/100 (1 tests, 0 findings), "
        "integration 0/100 (1 tests, 4 findings)"
    )
    data = json.loads(report.read_text())
    assert data["passed"] is False
    assert data["scores"] == {
        "unit": {"score": 100, "tests": 1},
        "integration": {"score": 0, "tests": 1},
    }
    assert [f["rule"] for f in data["findings"]] == ["TQ006", "TQ003", "TQ001", "TQ002"]


def test_step_summary_gets_the_score_table(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tree(tmp_path, {"tests/unit/test_a.py": "def test_a():\n    run()\n"})
    summary = tmp_path / "summary.md"
    summary.write_text("earlier step\n")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    assert main(["--root", str(root)]) == 1
    capsys.readouterr()
    text = summary.read_text()
    assert text.startswith("earlier step\n## Test quality: FAIL (1 findings)\n")
    assert "| unit | 1 | 1 | 0 |" in text
    assert "tests/unit/test_a.py:1: TQ007 no-assertion" in text


def test_missing_path_is_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--root", str(tmp_path), "nowhere"]) == 2
    assert capsys.readouterr().err == f"quality: error: no such path: {tmp_path / 'nowhere'}\n"


def test_module_entry_point_exits_non_zero_without_traceback(tmp_path: Path) -> None:
    tree(tmp_path, {"tests/unit/test_a.py": "def test_a():\n    assert True\n"})
    proc = subprocess.run(
        [sys.executable, "-m", "testing.quality"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    assert proc.stdout.splitlines()[0].startswith(
        "quality: tests/unit/test_a.py:2: TQ005 assert-constant: `assert True` cannot fail"
    )
