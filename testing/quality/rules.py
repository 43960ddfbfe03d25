"""The test-quality rules: what each one forbids, why it matters, how to fix it, its weight.

The weight is what one finding costs in a tier's quality score (see
:mod:`testing.quality.score`): a test that can never fail costs its whole share
(100), a flaky or fake test half (50), a weak assertion a quarter (25), a
leftover TODO a tenth (10).
"""

from __future__ import annotations

from dataclasses import dataclass

from testing.traceability.tiers import GATED_TIERS


@dataclass(frozen=True)
class Rule:
    id: str
    name: str
    weight: int
    why: str
    fix: str
    #: Only integration and e2e files are checked.
    gated_only: bool = False


RULES: dict[str, Rule] = {
    rule.id: rule
    for rule in (
        Rule(
            "TQ001",
            "existence-only-assert",
            25,
            "it passes for any wrong value as long as something came back",
            "also assert the expected value of the same object (==, in, a field)",
        ),
        Rule(
            "TQ002",
            "dry-run",
            50,
            "a dry run never changes the real system, so the test proves nothing about it",
            "run the real operation against the real component and assert its effect",
            gated_only=True,
        ),
        Rule(
            "TQ003",
            "sleep",
            50,
            "a fixed sleep is too short on a slow machine (flaky) and too long on a fast one",
            "wait with testing.polling.wait_for_condition or a watch on the awaited state",
        ),
        Rule(
            "TQ004",
            "placeholder",
            10,
            "a TODO/FIXME/placeholder marks an unfinished test that is counted as done",
            "finish the test or delete the comment; track open work in an issue",
        ),
        Rule(
            "TQ005",
            "assert-constant",
            100,
            "an assertion on a constant (assert True, assert 1 == 1) can never fail",
            "assert a value produced by the code under test",
        ),
        Rule(
            "TQ006",
            "skip-in-integration",
            100,
            "a skipped or xfailed integration/e2e test hides a broken environment as success",
            "make the test run (provide what it needs through a fixture that fails) or delete it",
            gated_only=True,
        ),
        Rule(
            "TQ007",
            "no-assertion",
            100,
            "a test without an assertion passes whenever nothing raises",
            "assert expected values, use pytest.raises, or call an assert_/check_/expect_ helper",
        ),
        Rule(
            "TQ000",
            "unparsable",
            100,
            "a test file that does not parse cannot be checked or run",
            "fix the syntax error",
        ),
    )
}


def applies(rule_id: str, tier: str | None) -> bool:
    return not RULES[rule_id].gated_only or tier in GATED_TIERS


@dataclass(frozen=True)
class Finding:
    rule: str
    path: str
    line: int
    detail: str

    def __str__(self) -> str:
        rule = RULES[self.rule]
        return (
            f"{self.path}:{self.line}: {rule.id} {rule.name}: {self.detail}; "
            f"why: {rule.why}; fix: {rule.fix}"
        )
