"""The traceability matrix as Markdown (people, GitHub step summaries) and JSON (tools)."""

from __future__ import annotations

from typing import Any

from testing.traceability.matrix import Matrix

#: Tests listed per requirement in Markdown; the JSON report lists all of them.
MAX_TESTS_SHOWN = 8


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def to_markdown(matrix: Matrix, *, results_note: str = "") -> str:
    cov = matrix.coverage
    verdict = "PASS" if matrix.passed else "FAIL"
    lines = [
        "## Requirement traceability",
        "",
        f"**{verdict}**: {cov.covered}/{cov.total} registered requirements have at least one "
        f"test ({cov.percent:.1f}%, threshold {matrix.threshold:g}%).",
    ]
    if results_note:
        lines += ["", results_note]
    lines += ["", "| tier | requirements | with a test | coverage |", "|---|---|---|---|"]
    for tier, tier_cov in matrix.tier_coverage().items():
        lines.append(
            f"| {tier} | {tier_cov.total} | {tier_cov.covered} | {tier_cov.percent:.1f}% |"
        )
    problems = matrix.problems()
    if problems:
        lines += ["", "### Problems", ""] + [f"- {_cell(p)}" for p in problems]
    if matrix.notes:
        lines += ["", "### Notes", ""] + [f"- {_cell(n)}" for n in matrix.notes]
    lines += [
        "",
        "### Matrix",
        "",
        "| requirement | tier | statement | tests (last result) | status |",
        "|---|---|---|---|---|",
    ]
    for row in matrix.rows:
        shown = [f"`{_cell(r.test.nodeid)}` ({r.outcome})" for r in row.tests[:MAX_TESTS_SHOWN]]
        if len(row.tests) > MAX_TESTS_SHOWN:
            shown.append(f"and {len(row.tests) - MAX_TESTS_SHOWN} more")
        req = row.requirement
        lines.append(
            f"| {req.id} | {req.tier} | {_cell(req.statement)} | "
            f"{'<br>'.join(shown) or '-'} | {row.status} |"
        )
    return "\n".join(lines) + "\n"


def to_json(matrix: Matrix) -> dict[str, Any]:
    cov = matrix.coverage
    return {
        "passed": matrix.passed,
        "threshold": matrix.threshold,
        "coverage": {"covered": cov.covered, "total": cov.total, "percent": cov.percent},
        "tiers": {
            tier: {"covered": c.covered, "total": c.total, "percent": c.percent}
            for tier, c in matrix.tier_coverage().items()
        },
        "requirements": [
            {
                "id": row.requirement.id,
                "tier": row.requirement.tier,
                "statement": row.requirement.statement,
                "status": row.status,
                "tests": [
                    {"nodeid": r.test.nodeid, "tier": r.test.tier, "outcome": r.outcome}
                    for r in row.tests
                ],
            }
            for row in matrix.rows
        ],
        "unknown_ids": [
            {"id": rid, "test": t.nodeid, "location": f"{t.file}:{t.line}"}
            for t, rid in matrix.unknown
        ],
        "unmarked_tests": [
            {"test": t.nodeid, "location": f"{t.file}:{t.line}"} for t in matrix.unmarked
        ],
        "collection_errors": [{"nodeid": n, "message": m} for n, m in matrix.collection_errors],
        "problems": matrix.problems(),
        "notes": matrix.notes,
    }
