"""The vocabulary shared by products, layers and checks: column and table specs, seed data.

A product is declared, not coded layer by layer: each source table has a ``TableSpec``
whose columns carry type, nullability and ranges. Silver refinement and the quality
checks both read these specs, so a rule is written once.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

Kind = Literal["str", "int", "float", "date", "timestamp"]
RawRow = dict[str, str | None]
Row = dict[str, Any]


@dataclass(frozen=True)
class Column:
    """One column: its type, whether it may be null, its valid range or values.

    ``revision`` is the schema revision that introduced the column, so a product can
    show schema evolution (older revisions simply lack it).
    """

    name: str
    kind: Kind
    required: bool = True
    minimum: float | None = None
    maximum: float | None = None
    allowed: frozenset[str] | None = None
    revision: int = 1


@dataclass(frozen=True)
class Reference:
    """A foreign key: ``column`` must name an existing ``parent_table.parent_column``."""

    column: str
    parent_table: str
    parent_column: str


@dataclass(frozen=True)
class TableSpec:
    name: str
    columns: tuple[Column, ...]
    key: tuple[str, ...]
    references: tuple[Reference, ...] = ()

    def columns_at(self, revision: int) -> tuple[Column, ...]:
        return tuple(c for c in self.columns if c.revision <= revision)

    def column(self, name: str) -> Column:
        for col in self.columns:
            if col.name == name:
                return col
        raise KeyError(name)


@dataclass(frozen=True)
class PlantedDefect:
    """A dirty row the generator put in on purpose, and the quarantine reason it must get."""

    table: str
    source_row: int
    reason: str


@dataclass
class SeedData:
    """Raw rows per source table (strings, as ingested), parents before children."""

    tables: dict[str, list[RawRow]]
    planted: list[PlantedDefect] = field(default_factory=list)


@dataclass(frozen=True)
class Chart:
    """How the dashboard draws a gold table: one bar per ``label`` sized by ``value``."""

    label: str
    value: str
    top: int = 12
    title: str = ""


@dataclass(frozen=True)
class GoldTable:
    """A gold table's contract: its key, its non-null columns, its ranges, its chart."""

    name: str
    key: tuple[str, ...]
    columns: tuple[Column, ...]
    chart: Chart


GoldBuilder = Callable[[Mapping[str, Sequence[Row]]], dict[str, list[Row]]]
SeedGenerator = Callable[[int, int, int], SeedData]


@dataclass(frozen=True)
class Product:
    """A data product: its source specs, seed generator and gold builder.

    ``reconcile`` returns (check name, passed, detail) triples that tie gold totals back
    to silver, so a gold bug cannot hide behind well-formed rows.
    """

    name: str
    namespace: str
    description: str
    sources: tuple[TableSpec, ...]
    gold: tuple[GoldTable, ...]
    generate: SeedGenerator
    build_gold: GoldBuilder
    reconcile: Callable[
        [Mapping[str, Sequence[Row]], Mapping[str, Sequence[Row]]], list[tuple[str, bool, str]]
    ]
    latest_revision: int = 1

    def source(self, name: str) -> TableSpec:
        for spec in self.sources:
            if spec.name == name:
                return spec
        raise KeyError(name)
