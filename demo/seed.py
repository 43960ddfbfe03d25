"""Deterministic seed data with dirty rows planted on purpose.

Each generator builds clean rows from ``random.Random(f"{product}:{seed}")`` (string
seeding is stable across processes and Python versions), then ``plant`` damages a
known set of rows and records each one with the quarantine reason silver must give it.
Same seed and scale, same bytes.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from demo.model import PlantedDefect, RawRow, TableSpec

DefectKind = Literal["null", "out_of_range", "unparseable", "invalid_value", "orphan", "duplicate"]


@dataclass(frozen=True)
class Defect:
    """One kind of damage: set ``column`` to ``value`` (None for null), or copy a row."""

    kind: DefectKind
    column: str = ""
    value: str | None = None


def rng_for(product: str, seed: int) -> random.Random:
    return random.Random(f"{product}:{seed}")  # noqa: S311 - test data, not secrets


def defect_count(rows: int, kinds: int) -> int:
    """About 2% of a table, and at least one of each kind."""
    return max(kinds, rows // 50)


def reason_for(defect: Defect, spec: TableSpec) -> str:
    if defect.kind == "duplicate":
        return "duplicate:" + ",".join(spec.key)
    return f"{defect.kind}:{defect.column}"


def duplicates_in(defects: Sequence[Defect], total: int) -> int:
    count = defect_count(total, len(defects))
    return sum(1 for i in range(count) if defects[i % len(defects)].kind == "duplicate")


def plant(
    spec: TableSpec,
    clean: Sequence[Mapping[str, str | None]],
    defects: Sequence[Defect],
    total: int,
    rng: random.Random,
) -> tuple[list[RawRow], list[PlantedDefect], list[int]]:
    """Damage rows of ``clean`` and insert duplicates so the table has ``total`` rows.

    Returns the rows, the planted defects (by final row position), and the indexes in
    ``clean`` of rows left untouched (children may reference only those).
    """
    count = defect_count(total, len(defects))
    plan = [defects[i % len(defects)] for i in range(count)]
    mutations = [d for d in plan if d.kind != "duplicate"]
    dup_count = len(plan) - len(mutations)
    if len(clean) + dup_count != total:
        raise ValueError(f"{spec.name}: {len(clean)} clean + {dup_count} duplicates != {total}")
    mutated = rng.sample(range(len(clean)), len(mutations))
    reasons: dict[int, str] = {}
    rows: list[RawRow] = [dict(r) for r in clean]
    for index, defect in zip(mutated, mutations, strict=True):
        rows[index][defect.column] = defect.value
        reasons[index] = reason_for(defect, spec)
    untouched = [i for i in range(len(clean)) if i not in reasons]
    originals = rng.sample(untouched, dup_count) if dup_count else []
    # A copy goes before clean row ``slot`` (after its original), so the first one wins.
    copies: dict[int, list[RawRow]] = {}
    for original in originals:
        slot = rng.randint(original + 1, len(clean))
        copies.setdefault(slot, []).append(dict(rows[original]))
    dup_reason = reason_for(Defect("duplicate"), spec)
    final: list[RawRow] = []
    planted: list[PlantedDefect] = []
    for slot in range(len(clean) + 1):
        for copy in copies.get(slot, []):
            planted.append(PlantedDefect(spec.name, len(final), dup_reason))
            final.append(copy)
        if slot < len(clean):
            if slot in reasons:
                planted.append(PlantedDefect(spec.name, len(final), reasons[slot]))
            final.append(rows[slot])
    return final, planted, untouched


def money(value: float) -> str:
    return f"{value:.2f}"
