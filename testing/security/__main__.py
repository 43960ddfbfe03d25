"""``python -m testing.security <scanner>``: run one scanner (or ``all``), print findings, exit.

Exit 0: checked and clean. Exit 1: findings (one line each, then a summary).
Exit 2: the scanner could not check (one line saying why and what to do) -
never reported as clean. Reports go to ``artifacts/security/`` (or
``$SECURITY_REPORTS_DIR``), including ``<scanner>.result.json`` for every run.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

from testing import pins
from testing.security import bandit_scan, images_scan, manifests, pip_audit_scan, secrets_scan
from testing.security.report import ScanError, ScanResult, reports_dir, write_json

SCANNERS: dict[str, Callable[[Path, Path], ScanResult]] = {
    "bandit": bandit_scan.scan,
    "pip-audit": pip_audit_scan.scan,
    "manifests": manifests.scan,
    "secrets": secrets_scan.scan,
    "images": images_scan.scan,
}


def run_one(name: str, root: Path, reports: Path) -> int:
    try:
        result = SCANNERS[name](root, reports)
    except (ScanError, pins.PinError) as exc:
        write_json(reports / f"{name}.result.json", {"scanner": name, "error": str(exc)})
        print(f"security {name}: error: {exc}", file=sys.stderr)
        return 2
    write_json(reports / f"{name}.result.json", result.to_json())
    for finding in result.findings:
        print(finding.render())
    for note in result.notes:
        print(f"  note: {note}")
    print(result.summary())
    return 1 if result.failed else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m testing.security", description=__doc__)
    parser.add_argument("scanner", choices=[*SCANNERS, "all"])
    parser.add_argument("--root", type=Path, default=pins.REPO_ROOT, help="repository root")
    parser.add_argument("--reports", type=Path, default=None, help="reports folder")
    options = parser.parse_args(argv)
    root: Path = options.root.resolve()
    reports: Path = options.reports or reports_dir(root)
    reports.mkdir(parents=True, exist_ok=True)
    names = list(SCANNERS) if options.scanner == "all" else [options.scanner]
    codes = [run_one(name, root, reports) for name in names]
    return max(codes)


if __name__ == "__main__":
    raise SystemExit(main())
