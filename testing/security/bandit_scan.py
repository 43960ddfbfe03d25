"""bandit over the project's Python code, configured by ``[tool.bandit]`` in pyproject.toml.

Fails on any finding at or above ``SECURITY_BANDIT_SEVERITY`` (``low``, ``medium``
or ``high``; default ``medium``), whatever bandit's confidence, and on any file bandit
could not parse (a file it skipped is a file nobody checked). The threshold is printed
with the result; findings below it are counted and left in the report. Writes
bandit's own JSON and SARIF reports.
"""

from __future__ import annotations

import json
import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from testing.security.report import (
    Finding,
    ScanError,
    ScanResult,
    last_line,
    run_tool,
    tool_path,
)

SEVERITIES = ("LOW", "MEDIUM", "HIGH")
SEVERITY_ENV = "SECURITY_BANDIT_SEVERITY"
DEFAULT_SEVERITY = "medium"
TIMEOUT_S = 300.0


def failing_severities(environ: Mapping[str, str] | None = None) -> tuple[str, ...]:
    """The severities that fail the scan: ``$SECURITY_BANDIT_SEVERITY`` and above."""
    env = os.environ if environ is None else environ
    chosen = (env.get(SEVERITY_ENV) or DEFAULT_SEVERITY).strip().upper()
    if chosen not in SEVERITIES:
        raise ScanError(
            f"{SEVERITY_ENV}={env.get(SEVERITY_ENV)!r} is not a bandit severity: use low, "
            "medium or high"
        )
    return SEVERITIES[SEVERITIES.index(chosen) :]


def configured_targets(config: Path) -> list[str]:
    """The ``targets`` list of ``[tool.bandit]`` (a key of this project; bandit ignores it)."""
    try:
        with config.open("rb") as handle:
            table = tomllib.load(handle).get("tool", {}).get("bandit", {})
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ScanError(f"cannot read [tool.bandit] from {config}: {exc}") from None
    targets = table.get("targets")
    if not isinstance(targets, list) or not all(isinstance(t, str) for t in targets) or not targets:
        raise ScanError(f'{config} needs [tool.bandit] targets = ["..."] naming what to scan')
    return list(targets)


def scan(root: Path, reports: Path, *, targets: list[str] | None = None) -> ScanResult:
    """Run bandit on ``targets`` (relative to ``root``) and return the failing findings."""
    failing = failing_severities()
    config = root / "pyproject.toml"
    wanted = targets if targets is not None else configured_targets(config)
    present = [t for t in wanted if (root / t).exists()]
    if not present:
        raise ScanError(f"none of the bandit targets {wanted} exist under {root}")
    reports.mkdir(parents=True, exist_ok=True)
    json_report = reports / "bandit.json"
    sarif_report = reports / "bandit.sarif"
    base = [tool_path("bandit"), "-r", "-q"]
    if config.is_file():
        base += ["-c", str(config)]
    for fmt, out in (("json", json_report), ("sarif", sarif_report)):
        done = run_tool([*base, "-f", fmt, "-o", str(out), *present], timeout=TIMEOUT_S, cwd=root)
        # bandit exits 1 when it found anything at all (even low); 2+ means it broke.
        if done.returncode not in (0, 1) or not out.is_file():
            raise ScanError(
                f"bandit failed (exit {done.returncode}): {last_line(done.stderr + done.stdout)}"
            )
    data: dict[str, Any] = json.loads(json_report.read_text())
    result = ScanResult(
        "bandit",
        checked=int(data.get("metrics", {}).get("_totals", {}).get("loc", 0)),
        unit=f"lines of Python in {', '.join(present)}",
        reports=[json_report, sarif_report],
    )
    for error in data.get("errors", []):
        result.findings.append(
            Finding(
                "bandit-error",
                f"bandit could not scan it: {error.get('reason')}",
                error["filename"],
            )
        )
    result.notes.append(
        f"fails on {', '.join(failing)} severity ({SEVERITY_ENV}={failing[0].lower()})"
    )
    below = 0
    for issue in data.get("results", []):
        severity = str(issue.get("issue_severity", "")).upper()
        if severity not in failing:
            below += 1
            continue
        result.findings.append(
            Finding(
                rule=f"{issue['test_id']}:{issue['test_name']}",
                message=f"{severity} severity, {issue['issue_confidence']} confidence: "
                f"{issue['issue_text']}",
                path=str(issue["filename"]),
                line=int(issue.get("line_number", 1)),
            )
        )
    if below:
        result.notes.append(
            f"{below} finding(s) below {failing[0]} severity reported in {json_report}, not fatal"
        )
    totals = data.get("metrics", {}).get("_totals", {})
    suppressed = int(totals.get("nosec", 0)) + int(totals.get("skipped_tests", 0))
    if suppressed:
        result.notes.append(f"{suppressed} finding(s) suppressed by # nosec comments")
    if result.checked == 0 and not result.findings:
        raise ScanError(f"bandit found no Python code to scan in {', '.join(present)}")
    return result
