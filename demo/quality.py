"""Data-quality checks per layer, and the readable report that fails a run.

Checks look at the rows a layer is about to write, so bad data stops before it
reaches the next layer. Each check is a small function returning ``CheckResult``; a
failed one names the table, the rule and a few offending values.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from demo.layers.silver import violation
from demo.model import Column, Reference, Row

MAX_QUARANTINE_SHARE = 0.25
EXAMPLES = 3


@dataclass(frozen=True)
class CheckResult:
    layer: str
    table: str
    check: str
    passed: bool
    detail: str


def _examples(values: Iterable[Any]) -> str:
    shown = [repr(v) for _, v in zip(range(EXAMPLES), values, strict=False)]
    return ", ".join(shown)


def not_null(layer: str, table: str, rows: Sequence[Row], columns: Sequence[str]) -> CheckResult:
    bad = {c: sum(1 for r in rows if r.get(c) is None) for c in columns}
    bad = {c: n for c, n in bad.items() if n}
    detail = (
        ", ".join(f"{c}: {n} null" for c, n in bad.items())
        if bad
        else f"{len(columns)} columns x {len(rows)} rows"
    )
    return CheckResult(layer, table, "not_null", not bad, detail)


def unique(layer: str, table: str, rows: Sequence[Row], key: Sequence[str]) -> CheckResult:
    counts = Counter(tuple(r.get(k) for k in key) for r in rows)
    dupes = [k if len(k) > 1 else k[0] for k, n in counts.items() if n > 1]
    name = f"unique({','.join(key)})"
    if dupes:
        return CheckResult(
            layer, table, name, False, f"{len(dupes)} duplicate keys, e.g. {_examples(dupes)}"
        )
    return CheckResult(layer, table, name, True, f"{len(counts)} distinct keys")


def in_range(layer: str, table: str, rows: Sequence[Row], columns: Sequence[Column]) -> CheckResult:
    """Values inside each column's range and allowed set (nulls are not_null's business)."""
    bad: list[str] = []
    for column in columns:
        for row in rows:
            value = row.get(column.name)
            if value is not None and violation(column, value) is not None:
                bad.append(f"{column.name}={value!r}")
    detail = f"{len(bad)} values out of range, e.g. {_examples(bad)}" if bad else "all in range"
    return CheckResult(layer, table, "ranges", not bad, detail)


def references(
    layer: str,
    table: str,
    rows: Sequence[Row],
    refs: Sequence[Reference],
    parents: Mapping[str, set[Any]],
) -> CheckResult:
    bad = [
        f"{ref.column}={row[ref.column]!r}"
        for ref in refs
        for row in rows
        if row.get(ref.column) not in parents[ref.parent_table]
    ]
    names = ", ".join(f"{r.column}->{r.parent_table}.{r.parent_column}" for r in refs)
    detail = f"{len(bad)} dangling, e.g. {_examples(bad)}" if bad else names
    return CheckResult(layer, table, "referential_integrity", not bad, detail)


def row_count(layer: str, table: str, actual: int, expected: int, what: str) -> CheckResult:
    return CheckResult(
        layer, table, "row_count", actual == expected, f"{actual} rows, expected {expected} {what}"
    )


def reconciled(table: str, bronze: int, silver: int, quarantined: int) -> CheckResult:
    return CheckResult(
        "silver",
        table,
        "bronze_equals_silver_plus_quarantine",
        bronze == silver + quarantined,
        f"bronze {bronze} = silver {silver} + quarantine {quarantined}",
    )


def quarantine_share(table: str, bronze: int, quarantined: int) -> CheckResult:
    """A feed that is mostly garbage should stop the run, not fill quarantine silently."""
    share = quarantined / bronze if bronze else 0.0
    return CheckResult(
        "silver",
        table,
        "quarantine_share",
        share <= MAX_QUARANTINE_SHARE,
        f"{share:.1%} quarantined (limit {MAX_QUARANTINE_SHARE:.0%})",
    )


def failures(results: Sequence[CheckResult]) -> list[CheckResult]:
    return [r for r in results if not r.passed]


def report(product: str, run_id: str, results: Sequence[CheckResult]) -> str:
    """A report a person can read: a headline, then one line per failed check."""
    failed = failures(results)
    lines = [
        f"data-quality report for {product} (run {run_id}): "
        f"{len(failed)} of {len(results)} checks failed"
    ]
    lines += [f"  FAIL {r.layer}.{r.table} {r.check}: {r.detail}" for r in failed]
    return "\n".join(lines)
