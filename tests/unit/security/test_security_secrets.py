"""detect-secrets against a baseline: a planted password fails, its twin and accepted ones pass."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from testing.security import secrets_scan
from testing.security.report import ScanError, tool_path

CLEAN = 'import os\n\nPASSWORD = os.environ["APP_PASSWORD"]\n'
PLANTED = 'import os\n\nPASSWORD = "Tr0ub4dor-correct-horse-7f3a"\n'  # pragma: allowlist secret


def make_baseline(root: Path, *files: str) -> None:
    """The committed-baseline step, done with the real tool as a developer would."""
    done = subprocess.run(
        [tool_path("detect-secrets"), "scan", *files],
        cwd=root, capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    (root / secrets_scan.BASELINE).write_text(done.stdout)


@pytest.mark.requirement("SEC-004")
def test_planted_password_fails_and_twin_passes(tmp_path: Path) -> None:
    (tmp_path / "settings.py").write_text(CLEAN)
    make_baseline(tmp_path, "settings.py")
    assert secrets_scan.scan(tmp_path, tmp_path / "r", files=["settings.py"]).findings == []

    (tmp_path / "settings.py").write_text(PLANTED)
    result = secrets_scan.scan(tmp_path, tmp_path / "r", files=["settings.py"])
    assert [(f.rule, f.path, f.line) for f in result.findings] == [("new-secret", "settings.py", 3)]
    assert result.findings[0].message.startswith("Secret Keyword not in .secrets.baseline")
    report = json.loads((tmp_path / "r" / "detect-secrets.json").read_text())
    assert list(report["results"]) == ["settings.py"]


def test_baseline_accepts_a_reviewed_secret_until_audited_real(tmp_path: Path) -> None:
    (tmp_path / "settings.py").write_text(PLANTED)
    make_baseline(tmp_path, "settings.py")
    assert secrets_scan.scan(tmp_path, tmp_path / "r", files=["settings.py"]).findings == []

    baseline = json.loads((tmp_path / secrets_scan.BASELINE).read_text())
    baseline["results"]["settings.py"][0]["is_secret"] = True
    (tmp_path / secrets_scan.BASELINE).write_text(json.dumps(baseline))
    result = secrets_scan.scan(tmp_path, tmp_path / "r", files=["settings.py"])
    assert [f.rule for f in result.findings] == ["audited-secret"]


def test_missing_baseline_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "settings.py").write_text(CLEAN)
    with pytest.raises(ScanError, match=r"\.secrets\.baseline is missing"):
        secrets_scan.scan(tmp_path, tmp_path / "r", files=["settings.py"])


def test_repository_files_include_untracked_but_not_ignored(tmp_path: Path) -> None:
    git = shutil.which("git") or "git"
    subprocess.run([git, "init", "-q", str(tmp_path)], check=True, timeout=30)
    (tmp_path / ".gitignore").write_text("ignored.py\n")
    (tmp_path / "new.py").write_text(PLANTED)
    (tmp_path / "ignored.py").write_text(PLANTED)
    (tmp_path / secrets_scan.BASELINE).write_text("{}")
    assert secrets_scan.repository_files(tmp_path) == [".gitignore", "new.py"]
