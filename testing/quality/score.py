"""A 0-100 quality score per tier, so a trend is visible even while the gate is red.

score(tier) = round(100 * max(0, 1 - P / (100 * T))), where T is the number of
test functions in the tier (at least 1) and P the sum of the weights of the
tier's findings (see :data:`testing.quality.rules.RULES`): TQ005 assert-constant,
TQ006 skip/xfail, TQ007 no-assertion and TQ000 unparsable weigh 100; TQ002
dry-run and TQ003 sleep 50; TQ001 existence-only 25; TQ004 placeholder 10.
So one test that can never fail in a tier of 20 tests costs 5 points, and a
tier where every test has such a finding scores 0. The gate itself fails on any
finding, whatever the score.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from testing.quality.checker import FileReport
from testing.quality.rules import RULES
from testing.traceability.tiers import OTHER, TIERS


@dataclass(frozen=True)
class TierScore:
    tier: str
    tests: int
    findings: int
    penalty: int

    @property
    def score(self) -> int:
        return round(100 * max(0.0, 1 - self.penalty / (100 * max(self.tests, 1))))


def score_tiers(reports: Iterable[FileReport]) -> list[TierScore]:
    """Scores for the tiers that have files, in tier order."""
    tests: dict[str, int] = {}
    findings: dict[str, int] = {}
    penalty: dict[str, int] = {}
    for report in reports:
        tier = report.tier or OTHER
        tests[tier] = tests.get(tier, 0) + report.tests
        findings[tier] = findings.get(tier, 0) + len(report.findings)
        penalty[tier] = penalty.get(tier, 0) + sum(RULES[f.rule].weight for f in report.findings)
    order = [*TIERS, OTHER]
    return [
        TierScore(tier, tests[tier], findings[tier], penalty[tier])
        for tier in sorted(tests, key=lambda t: order.index(t) if t in order else len(order))
    ]
