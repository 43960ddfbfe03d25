"""Findings, scan results and the report files every scanner writes.

One shape for every scanner keeps the CLI, the tests and the GitHub code-scanning
upload simple: a finding names a rule, a place and a message; a result says what
was checked (so "clean" is never confused with "checked nothing").
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from testing import pins

REPORTS_ENV = "SECURITY_REPORTS_DIR"
SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"


class ScanError(RuntimeError):
    """The scanner could not check what it was asked to; the message is one actionable line."""


@dataclass(frozen=True)
class Finding:
    """One problem a scanner found, at a place a person can open."""

    rule: str
    message: str
    path: str
    line: int = 1
    severity: str = "error"

    def render(self) -> str:
        return f"{self.path}:{self.line}: [{self.rule}] {self.message}"


@dataclass
class ScanResult:
    """What one scanner checked and found; ``checked`` counts the units it really inspected."""

    scanner: str
    checked: int
    unit: str
    findings: list[Finding] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    reports: list[Path] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        return bool(self.findings)

    def summary(self) -> str:
        verdict = f"{len(self.findings)} finding(s)" if self.findings else "no findings"
        return f"security {self.scanner}: {verdict} in {self.checked} {self.unit}"

    def to_json(self) -> dict[str, Any]:
        return {
            "scanner": self.scanner,
            "checked": self.checked,
            "unit": self.unit,
            "failed": self.failed,
            "notes": self.notes,
            "findings": [asdict(f) for f in self.findings],
        }


def reports_dir(root: Path | None = None) -> Path:
    """``$SECURITY_REPORTS_DIR``, else ``<repo>/artifacts/security`` (CI uploads artifacts/)."""
    explicit = os.environ.get(REPORTS_ENV)
    if explicit:
        return Path(explicit)
    return (root or pins.REPO_ROOT) / "artifacts" / "security"


def write_json(path: Path, data: Mapping[str, Any] | Sequence[Any]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, sort_keys=True, default=str) + "\n")
    return path


def write_sarif(path: Path, tool: str, rules: Mapping[str, str], findings: list[Finding]) -> Path:
    """Write a minimal SARIF 2.1.0 log, for scanners whose tool has no SARIF output of its own."""
    level = {"error": "error", "warning": "warning", "note": "note"}
    log = {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": tool,
                        "rules": [
                            {"id": rule, "shortDescription": {"text": text}}
                            for rule, text in sorted(rules.items())
                        ],
                    }
                },
                "results": [
                    {
                        "ruleId": f.rule,
                        "level": level.get(f.severity, "error"),
                        "message": {"text": f.message},
                        "locations": [
                            {
                                "physicalLocation": {
                                    "artifactLocation": {"uri": f.path},
                                    "region": {"startLine": max(f.line, 1)},
                                }
                            }
                        ],
                    }
                    for f in findings
                ],
            }
        ],
    }
    return write_json(path, log)


def run_tool(
    argv: list[str],
    *,
    timeout: float,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run a scanner's command line (argv only, with a deadline); a hang becomes a ScanError."""
    try:
        return subprocess.run(
            argv,
            cwd=cwd,
            env=None if env is None else dict(env),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except FileNotFoundError:
        raise ScanError(
            f"{argv[0]} is not installed: run through `nox -s security` "
            "(or `uv sync --group security`)"
        ) from None
    except subprocess.TimeoutExpired:
        raise ScanError(
            f"{Path(argv[0]).name} ran longer than {timeout:.0f}s and was stopped"
        ) from None


def last_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else "(no output)"


def tool_path(name: str) -> str:
    """The console script ``name`` beside the running interpreter, else the one on PATH.

    The scanners are installed into the same environment as this package (the
    ``security`` dependency group), which is not always on PATH (``python -m``).
    """
    beside = Path(sys.executable).parent / name
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    return shutil.which(name) or name
