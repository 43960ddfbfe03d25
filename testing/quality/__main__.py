"""``python -m testing.quality [PATH ...]``: the test-quality gate over ``tests/``.

Exit 0 when no rule fires, 1 with one line per finding otherwise, 2 when a path
does not exist.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from testing.quality.checker import check_file, discover
from testing.quality.rules import RULES
from testing.quality.score import score_tiers

PREFIX = "quality:"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m testing.quality", description=__doc__)
    parser.add_argument("paths", nargs="*", type=Path, default=[Path("tests")])
    parser.add_argument("--root", type=Path, default=Path.cwd(), help="repository root")
    parser.add_argument("--json", type=Path, help="also write findings and scores here")
    options = parser.parse_args(argv)
    root: Path = options.root.resolve()
    paths = [p if p.is_absolute() else root / p for p in options.paths]
    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        print(f"{PREFIX} error: no such path: {', '.join(missing)}", file=sys.stderr)
        return 2

    reports = [check_file(path, root) for path in discover(paths)]
    findings = [f for r in reports for f in r.findings]
    for finding in findings:
        print(f"{PREFIX} {finding}")
    scores = score_tiers(reports)
    table = ", ".join(
        f"{s.tier} {s.score}/100 ({s.tests} tests, {s.findings} findings)" for s in scores
    )
    verdict = "PASS" if not findings else f"FAIL ({len(findings)} findings)"
    print(f"{PREFIX} {verdict}; score per tier: {table or 'no test files'}")

    if options.json is not None:
        out = options.json if options.json.is_absolute() else root / options.json
        out.parent.mkdir(parents=True, exist_ok=True)
        data = {
            "passed": not findings,
            "scores": {s.tier: {"score": s.score, "tests": s.tests} for s in scores},
            "findings": [
                {
                    "rule": f.rule,
                    "name": RULES[f.rule].name,
                    "location": f"{f.path}:{f.line}",
                    "detail": f.detail,
                    "why": RULES[f.rule].why,
                    "fix": RULES[f.rule].fix,
                }
                for f in findings
            ],
        }
        out.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
    summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if summary:
        rows = "\n".join(f"| {s.tier} | {s.tests} | {s.findings} | {s.score} |" for s in scores)
        with open(summary, "a", encoding="utf-8") as handle:
            handle.write(
                f"## Test quality: {verdict}\n\n| tier | tests | findings | score |\n"
                f"|---|---|---|---|\n{rows}\n\n" + "".join(f"- `{f}`\n" for f in findings) + "\n"
            )
    return 1 if findings else 0


if __name__ == "__main__":
    raise SystemExit(main())
