"""detect-secrets over the repository, against the committed ``.secrets.baseline``.

The baseline lists what was reviewed and accepted (each entry is a hash, not the
secret). Any secret found now that the baseline does not list fails the scan, and
so does a baseline entry that an audit marked as a real secret. The scan uses the
baseline's own plugin and filter settings, so what counts as a secret is decided
in one committed file. Files are git's tracked and untracked-but-not-ignored ones,
so a secret about to be committed is caught too.

To accept a reviewed false positive::

    uv run --group security detect-secrets scan --baseline .secrets.baseline
    uv run --group security detect-secrets audit .secrets.baseline
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

from testing.security.report import (
    Finding,
    ScanError,
    ScanResult,
    last_line,
    run_tool,
    tool_path,
    write_json,
)

BASELINE = ".secrets.baseline"
TIMEOUT_S = 300.0


def repository_files(root: Path) -> list[str]:
    """Tracked plus untracked-but-not-ignored files, relative to ``root``."""
    git = shutil.which("git")
    if git is None:
        raise ScanError("git is not on PATH: the secrets scan lists files through git")
    done = run_tool(
        [git, "ls-files", "-z", "--cached", "--others", "--exclude-standard"], timeout=60, cwd=root
    )
    if done.returncode != 0:
        raise ScanError(f"git ls-files failed in {root}: {last_line(done.stderr)}")
    names = [n for n in done.stdout.split("\0") if n and n != BASELINE]
    return [n for n in names if (root / n).is_file()]


def _entries(baseline: dict[str, Any]) -> dict[tuple[str, str, str], dict[str, Any]]:
    return {
        (path, str(s["type"]), str(s["hashed_secret"])): s
        for path, found in baseline.get("results", {}).items()
        for s in found
    }


def scan(root: Path, reports: Path, *, files: list[str] | None = None) -> ScanResult:
    """Scan ``files`` (default: the repository's) and fail on secrets the baseline lacks."""
    baseline_path = root / BASELINE
    try:
        accepted: dict[str, Any] = json.loads(baseline_path.read_text())
    except FileNotFoundError:
        raise ScanError(
            f"{baseline_path} is missing: create it with `detect-secrets scan > {BASELINE}`"
        ) from None
    except json.JSONDecodeError as exc:
        raise ScanError(f"{baseline_path} is not valid JSON: {exc}") from None
    names = files if files is not None else repository_files(root)
    if not names:
        raise ScanError(f"no files to scan for secrets under {root}")
    reports.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="secrets-") as tmp:
        # `scan --baseline F` rewrites F with the fresh results, so give it a copy.
        current = Path(tmp) / "current.baseline"
        shutil.copyfile(baseline_path, current)
        done = run_tool(
            [tool_path("detect-secrets"), "scan", "--baseline", str(current), "--", *names],
            timeout=TIMEOUT_S,
            cwd=root,
        )
        if done.returncode != 0:
            raise ScanError(
                f"detect-secrets failed (exit {done.returncode}): {last_line(done.stderr)}"
            )
        found: dict[str, Any] = json.loads(current.read_text())
    write_json(reports / "detect-secrets.json", found)
    known = _entries(accepted)
    result = ScanResult(
        "secrets", checked=len(names), unit="files", reports=[reports / "detect-secrets.json"]
    )
    for (path, kind, digest), secret in sorted(_entries(found).items()):
        line = int(secret.get("line_number", 1))
        if (path, kind, digest) not in known:
            result.findings.append(
                Finding(
                    "new-secret",
                    f"{kind} not in {BASELINE}: remove it (or audit it in)",
                    path,
                    line,
                )
            )
        elif known[(path, kind, digest)].get("is_secret") is True:
            result.findings.append(
                Finding("audited-secret", f"{kind} audited as a real secret: remove it", path, line)
            )
    return result
