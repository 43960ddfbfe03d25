"""pip-audit over the exact locked dependency set, failing closed when nothing was checked.

The set is ``uv export --locked`` of every group with hashes, so the audit sees
what ``uv.lock`` installs, not what happens to be in some environment. pip-audit
runs with ``--strict --require-hashes --disable-pip`` (no resolution, no
downloads) against OSV:

- with ``SECURITY_ADVISORY_DB`` set, an OSV snapshot served on loopback by
  :mod:`testing.security.osv_snapshot`, its date, its age and the pins it is too old
  to cover printed with the result (:mod:`testing.security.snapshot_coverage`);
- otherwise the live OSV API (``SECURITY_OSV_URL`` names another endpoint, e.g. a mirror).

Every pin is audited on every platform the lock covers: pip-audit skips a pin whose
environment marker is false where it runs (colorama and tzdata are win32-only), so the
markers are dropped from the copy it reads; the hashes stay.

pip-audit can print "No known vulnerabilities found" after failing lookups (and
crashes with a traceback when OSV is unreachable), so "clean" is accepted only
when every pinned dependency shows up as audited in pip-audit's own log (and,
offline, was answered by the snapshot server).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from packaging.markers import InvalidMarker, Marker

from testing.security import osv_snapshot, snapshot_coverage
from testing.security.report import (
    Finding,
    ScanError,
    ScanResult,
    last_line,
    run_tool,
    tool_path,
)

ADVISORY_DB_ENV = "SECURITY_ADVISORY_DB"
OSV_URL_ENV = "SECURITY_OSV_URL"
LIVE_OSV_URL = "https://api.osv.dev/v1/query"
AUDIT_TIMEOUT_S = 600.0
EXPORT_TIMEOUT_S = 120.0
LOOKUP_TIMEOUT_S = 15

_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)(.*)$")
_HASH_OPTION = re.compile(r"\s*--hash[= ]\S+")
_AUDITED = re.compile(r"Auditing (\S+) \(([^)]+)\)")
_UNREACHABLE_HINTS = (
    "ConnectionError",
    "Could not connect",
    "Failed to establish a new connection",
    "Max retries exceeded",
    "Name or service not known",
    "Temporary failure in name resolution",
    "could not be audited",
    "timed out",
    "ReadTimeout",
    "HTTPError",
    "ServiceError",
)


@dataclass(frozen=True)
class Pin:
    name: str
    version: str

    @property
    def key(self) -> tuple[str, str]:
        return osv_snapshot.normalise(self.name), self.version


def unreachable(source: str) -> ScanError:
    """The one line for "the advisory source did not answer", with the offline remedy."""
    return ScanError(
        f"pip-audit could not query {source}, so the dependencies were NOT checked; "
        f"to audit offline set {ADVISORY_DB_ENV} to an OSV advisory snapshot "
        f"(e.g. {ADVISORY_DB_ENV}=../shared/advisory-database nox -s security)"
    )


def export_locked(root: Path, out: Path) -> Path:
    """Write the locked set (every group, hashes, no project itself) as a requirements file."""
    uv = shutil.which("uv")
    if uv is None:
        raise ScanError("uv is not on PATH: install it (pip install uv) to export uv.lock")
    out.parent.mkdir(parents=True, exist_ok=True)
    done = run_tool(
        [
            uv, "export", "--locked", "--format", "requirements-txt", "--no-emit-project",
            "--all-groups", "--all-extras", "--no-header", "--no-annotate",
            "--output-file", str(out),
        ],
        timeout=EXPORT_TIMEOUT_S,
        cwd=root,
    )  # fmt: skip
    if done.returncode != 0:
        raise ScanError(f"uv export --locked failed: {last_line(done.stderr)}")
    return out


def locked_pins(requirements: Path) -> list[Pin]:
    """Every ``name==version`` pin of the file, whatever its environment marker says."""
    pins: list[Pin] = []
    for line in requirements.read_text().splitlines():
        match = _PIN.match(line.strip())
        if not match:
            continue
        name, version, rest = match.groups()
        rest = _HASH_OPTION.sub("", rest).rstrip("\\ ")
        marker = rest.split(";", 1)[1].strip() if ";" in rest else ""
        if marker:
            try:
                Marker(marker)
            except InvalidMarker:
                raise ScanError(f"{requirements}: invalid environment marker {marker!r}") from None
        pins.append(Pin(name, version))
    return pins


def without_markers(requirements: Path, out: Path) -> Path:
    """A copy of ``requirements`` whose pins hold on every platform (hashes kept)."""
    lines = []
    for line in requirements.read_text().splitlines():
        kept = line
        if _PIN.match(line.strip()) and ";" in line:
            head, _, tail = line.partition(";")
            hashes = tail.find("--hash")
            if hashes >= 0:
                kept = f"{head.rstrip()} {tail[hashes:]}"
            else:
                kept = head.rstrip() + (" \\" if tail.rstrip().endswith("\\") else "")
        lines.append(kept)
    out.write_text("\n".join(lines) + "\n")
    return out


def _findings(report: Path, requirements: Path) -> list[Finding]:
    data: dict[str, Any] = json.loads(report.read_text())
    findings = []
    for dep in data.get("dependencies", []):
        for vuln in dep.get("vulns", []):
            fixed = ", ".join(vuln.get("fix_versions", [])) or "none"
            aliases = ", ".join(vuln.get("aliases", []))
            findings.append(
                Finding(
                    rule=str(vuln["id"]),
                    message=f"{dep['name']}=={dep['version']} is vulnerable "
                    f"({aliases}); fixed in {fixed}",
                    path=str(requirements),
                )
            )
    return findings


def audit(
    requirements: Path,
    reports: Path,
    *,
    osv_url: str | None = None,
    released: Mapping[tuple[str, str], dt.datetime] | None = None,
) -> ScanResult:
    """Audit a hashed requirements file, offline when ``SECURITY_ADVISORY_DB`` is set.

    ``released`` gives each pin's release time (from ``uv.lock``); offline, a pin
    released after the snapshot, or with no known release time, is reported as not
    covered (:mod:`testing.security.snapshot_coverage`).
    """
    expected = {p.key for p in locked_pins(requirements)}
    if not expected:
        raise ScanError(f"{requirements} pins no dependency: nothing to audit")
    reports.mkdir(parents=True, exist_ok=True)
    requirements = without_markers(requirements, reports / "requirements-every-platform.txt")
    db = os.environ.get(ADVISORY_DB_ENV)
    if db and osv_url is None:
        snapshot = osv_snapshot.load_snapshot(Path(db).resolve())
        date_file = snapshot.root / "SNAPSHOT_DATE"
        coverage = snapshot_coverage.assess(
            snapshot_coverage.snapshot_time(snapshot.date, date_file), expected, released or {}
        )
        source = f"the offline advisory snapshot {snapshot.root} dated {snapshot.date}"
        with osv_snapshot.serve(snapshot) as (url, log):
            result = _run(requirements, reports, url, source, expected)
            missing = expected - log.answered
        if missing:
            raise unreachable(source)
        result.unit += f" against the OFFLINE advisory snapshot dated {snapshot.date}"
        if coverage.not_covered:
            result.unit += f" ({len(coverage.not_covered)} of them not covered by it)"
        result.notes[:0] = [
            f"advisories: {snapshot.record_count} OSV records from {snapshot.root}, "
            "not a live check",
            coverage.age_note(),
            coverage.coverage_note(len(expected)),
        ]
        if coverage.stale:
            result.findings.append(coverage.stale_finding(date_file))
        return result
    url = osv_url or os.environ.get(OSV_URL_ENV) or LIVE_OSV_URL
    result = _run(requirements, reports, url, f"the OSV service at {url}", expected)
    result.unit += f" against the live OSV service {url}"
    return result


def _run(
    requirements: Path, reports: Path, url: str, source: str, expected: set[tuple[str, str]]
) -> ScanResult:
    reports.mkdir(parents=True, exist_ok=True)
    raw = reports / "pip-audit.raw.json"
    raw.unlink(missing_ok=True)
    with tempfile.TemporaryDirectory(prefix="pip-audit-cache-") as cache:
        done = run_tool(
            [
                tool_path("pip-audit"), "--verbose", "--strict", "--require-hashes",
                "--disable-pip", "--requirement", str(requirements),
                "--vulnerability-service", "osv", "--osv-url", url,
                "--format", "json", "--output", str(raw), "--progress-spinner", "off",
                "--timeout", str(LOOKUP_TIMEOUT_S), "--cache-dir", cache,
            ],
            timeout=AUDIT_TIMEOUT_S,
        )  # fmt: skip
    log = done.stderr + done.stdout
    audited = {(osv_snapshot.normalise(n), v) for n, v in _AUDITED.findall(log)}
    vulnerable = done.returncode == 1 and raw.is_file() and "known vulnerabilit" in log
    if done.returncode != 0 and not vulnerable:
        if any(hint in log for hint in _UNREACHABLE_HINTS):
            raise unreachable(source)
        raise ScanError(f"pip-audit failed (exit {done.returncode}): {last_line(log)}")
    if not expected <= audited or _skipped(raw):
        # Lookups that failed without an error: the "No known vulnerabilities found" trap.
        raise unreachable(source)
    result = ScanResult("pip-audit", checked=len(audited), unit="locked dependencies")
    if raw.is_file():
        result.reports.append(raw)
    if vulnerable:
        result.findings = _findings(raw, requirements)
    return result


def _skipped(raw: Path) -> list[str]:
    """Dependencies pip-audit's own JSON report marks as skipped (not audited)."""
    if not raw.is_file():
        return []
    data: dict[str, Any] = json.loads(raw.read_text())
    return [str(d.get("name")) for d in data.get("dependencies", []) if "skip_reason" in d]


def scan(root: Path, reports: Path) -> ScanResult:
    """Export ``uv.lock`` and audit it; writes ``pip-audit.json`` (and pip-audit's own JSON)."""
    requirements = export_locked(root, reports / "requirements-locked.txt")
    result = audit(
        requirements, reports, released=snapshot_coverage.release_times(root / "uv.lock")
    )
    result.reports.insert(0, requirements)
    return result
