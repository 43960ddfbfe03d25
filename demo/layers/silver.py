"""Silver: typed, deduplicated rows; every row that fails a rule goes to quarantine with why.

Rules run in a fixed order and the first failure is the reason: type, then null, then
range or allowed values (column by column, in spec order), then duplicate key, then
foreign key. Duplicates keep the first occurrence in feed order.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from demo.model import Column, Row, TableSpec


class UnparseableError(ValueError):
    """The raw text is not a value of the column's type."""


def _parse_int(text: str) -> int:
    return int(text)


def _parse_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(text)
    return value


def _parse_timestamp(text: str) -> datetime:
    value = datetime.fromisoformat(text)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


PARSERS: dict[str, Callable[[str], Any]] = {
    "str": str,
    "int": _parse_int,
    "float": _parse_float,
    "date": date.fromisoformat,
    "timestamp": _parse_timestamp,
}


def parse(column: Column, raw: str | None) -> Any:
    """The typed value, None for a missing one; raises UnparseableError for bad text."""
    if raw is None or raw.strip() == "":
        return None
    try:
        return PARSERS[column.kind](raw.strip())
    except ValueError:
        raise UnparseableError(column.name) from None


def violation(column: Column, value: Any) -> str | None:
    """The reason a parsed value breaks its column's rules, or None."""
    if value is None:
        return f"null:{column.name}" if column.required else None
    if column.allowed is not None and value not in column.allowed:
        return f"invalid_value:{column.name}"
    if column.minimum is not None and value < column.minimum:
        return f"out_of_range:{column.name}"
    if column.maximum is not None and value > column.maximum:
        return f"out_of_range:{column.name}"
    return None


@dataclass
class Refined:
    valid: list[Row] = field(default_factory=list)
    quarantined: list[Row] = field(default_factory=list)


def refine(
    spec: TableSpec,
    bronze: Sequence[Row],
    parents: Mapping[str, set[Any]],
    revision: int,
    tick: Callable[[int], None] | None = None,
) -> Refined:
    """Split bronze rows into typed silver rows and quarantined raw rows with a reason."""
    columns = spec.columns_at(revision)
    seen: set[tuple[Any, ...]] = set()
    out = Refined()
    for n, raw in enumerate(bronze, 1):
        typed, reason = _typed(columns, raw)
        if reason is None:
            key = tuple(typed[k] for k in spec.key)
            if key in seen:
                reason = "duplicate:" + ",".join(spec.key)
            else:
                reason = _orphan(spec, typed, parents)
                if reason is None:
                    seen.add(key)
        meta = {"_source_row": raw["_source_row"], "_run_id": raw["_run_id"]}
        if reason is None:
            out.valid.append({**typed, **meta})
        else:
            raw_values = {c.name: raw.get(c.name) for c in columns}
            out.quarantined.append({**raw_values, **meta, "reason": reason})
        if tick is not None and n % 5000 == 0:
            tick(n)
    return out


def _typed(columns: Sequence[Column], raw: Row) -> tuple[Row, str | None]:
    typed: Row = {}
    for column in columns:
        try:
            value = parse(column, raw.get(column.name))
        except UnparseableError:
            return typed, f"unparseable:{column.name}"
        reason = violation(column, value)
        if reason is not None:
            return typed, reason
        typed[column.name] = value
    return typed, None


def _orphan(spec: TableSpec, typed: Row, parents: Mapping[str, set[Any]]) -> str | None:
    for ref in spec.references:
        if typed[ref.column] not in parents[ref.parent_table]:
            return f"orphan:{ref.column}"
    return None
