"""Requirement -> tests -> last result, and the verdict of the traceability gate.

Coverage = registered requirements with at least one test / all registered
requirements. The denominator is the registry, so a promise nobody tests
lowers coverage instead of vanishing. The gate fails when coverage is below the
threshold (100% by default: every registered requirement has a test), and
always when a test names an unknown id, an integration or e2e test names no id,
or a test file failed to collect (its tests would be invisible).

Any tier's tests count for a requirement; unit tests may carry markers but need
not (only integration and e2e tests must). A requirement covered only by tests
of a cheaper tier than its own is reported as a note, not a failure.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from testing.traceability.inventory import CollectedTest, Inventory
from testing.traceability.registry import Registry, Requirement
from testing.traceability.results import NOT_RUN
from testing.traceability.tiers import GATED_TIERS, TIERS

#: Environment variable holding the coverage threshold in percent.
THRESHOLD_ENV = "TRACEABILITY_THRESHOLD"
DEFAULT_THRESHOLD = 100.0


@dataclass(frozen=True)
class TestResult:
    test: CollectedTest
    outcome: str


@dataclass(frozen=True)
class Row:
    requirement: Requirement
    tests: tuple[TestResult, ...]

    @property
    def covered(self) -> bool:
        return bool(self.tests)

    @property
    def status(self) -> str:
        """``no test``, ``failed``, ``passed``, ``not run``, ``skipped`` or ``partly run``."""
        outcomes = {r.outcome for r in self.tests}
        if not outcomes:
            return "no test"
        if outcomes & {"failed", "error"}:
            return "failed"
        if outcomes == {"passed"}:
            return "passed"
        if outcomes == {NOT_RUN}:
            return NOT_RUN
        if "skipped" in outcomes:
            return "skipped"
        return "partly run"


@dataclass(frozen=True)
class Coverage:
    covered: int
    total: int

    @property
    def percent(self) -> float:
        return 100.0 * self.covered / self.total if self.total else 100.0


@dataclass
class Matrix:
    rows: list[Row]
    threshold: float
    unknown: list[tuple[CollectedTest, str]] = field(default_factory=list)
    unmarked: list[CollectedTest] = field(default_factory=list)
    collection_errors: list[tuple[str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def coverage(self) -> Coverage:
        return Coverage(sum(r.covered for r in self.rows), len(self.rows))

    def tier_coverage(self) -> dict[str, Coverage]:
        result: dict[str, Coverage] = {}
        for tier in TIERS:
            rows = [r for r in self.rows if r.requirement.tier == tier]
            if rows:
                result[tier] = Coverage(sum(r.covered for r in rows), len(rows))
        return result

    @property
    def below_threshold(self) -> bool:
        return self.coverage.percent + 1e-9 < self.threshold

    @property
    def passed(self) -> bool:
        return not (self.below_threshold or self.unknown or self.unmarked or self.collection_errors)

    def problems(self) -> list[str]:
        """One actionable line per finding; failures first."""
        lines = [
            f"{test.file}:{test.line}: {test.name} names unknown requirement {rid!r}; "
            f"register it in the registry or fix the id"
            for test, rid in self.unknown
        ]
        lines += [
            f"{test.file}:{test.line}: {test.name} names no requirement; {test.tier} tests need "
            f'@pytest.mark.requirement("ID") with an id from the registry'
            for test in self.unmarked
        ]
        lines += [
            f"{nodeid}: failed to collect ({message}); its tests are missing from the matrix"
            for nodeid, message in self.collection_errors
        ]
        prefix = "" if self.below_threshold else "warning: "
        lines += [
            f"{prefix}{row.requirement.id} [{row.requirement.tier}] has no test: "
            f'"{row.requirement.statement}"; mark the test that verifies it with '
            f'@pytest.mark.requirement("{row.requirement.id}")'
            for row in self.rows
            if not row.covered
        ]
        if self.below_threshold:
            cov = self.coverage
            lines.append(
                f"coverage {cov.percent:.1f}% ({cov.covered}/{cov.total} registered "
                f"requirements have a test) is below the threshold {self.threshold:g}%"
            )
        return lines


def build_matrix(
    registry: Registry,
    inventory: Inventory,
    results: Mapping[str, Mapping[str, Any]],
    *,
    threshold: float = DEFAULT_THRESHOLD,
) -> Matrix:
    """Join the registry, the collected tests and their last results."""
    by_id: dict[str, list[TestResult]] = {r.id: [] for r in registry}
    matrix = Matrix(rows=[], threshold=threshold, collection_errors=list(inventory.errors))
    seen: set[tuple[str, int, str]] = set()  # parametrised tests share one definition
    for test in inventory.tests:
        if not test.requirements and test.tier in GATED_TIERS:
            if (test.file, test.line, "") not in seen:
                matrix.unmarked.append(test)
            seen.add((test.file, test.line, ""))
        outcome = str(results.get(test.nodeid, {}).get("outcome", NOT_RUN))
        for rid in dict.fromkeys(test.requirements):
            if rid in by_id:
                by_id[rid].append(TestResult(test, outcome))
            elif (test.file, test.line, rid) not in seen:
                seen.add((test.file, test.line, rid))
                matrix.unknown.append((test, rid))
    rank = {tier: i for i, tier in enumerate(TIERS)}
    for requirement in registry:
        tests = tuple(by_id[requirement.id])
        matrix.rows.append(Row(requirement, tests))
        own = rank.get(requirement.tier, 0)
        if tests and all(rank.get(t.test.tier or "", 0) < own for t in tests):
            matrix.notes.append(
                f"{requirement.id} ({requirement.tier}) is tested only by "
                f"{', '.join(sorted({t.test.tier or '?' for t in tests}))} tests"
            )
    return matrix
