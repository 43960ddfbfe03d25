"""What the catalog holds now: per product its tables, row counts, snapshots, freshness,
last quality result and the data behind each gold chart.

``python -m demo status`` prints it; the dashboard renders it. Row counts come from the
current snapshot's summary (``total-records``), which Iceberg maintains on every commit,
so a status call does not scan data files except for the small gold and quality tables.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from demo.model import Product
from demo.pipeline import QUALITY_TABLE
from demo.storage import Warehouse


@dataclass(frozen=True)
class TableStatus:
    identifier: str
    layer: str
    rows: int
    snapshot_id: int | None
    snapshots: int
    updated_at: datetime | None


@dataclass(frozen=True)
class QualityStatus:
    run_id: str
    checked_at: datetime
    passed: int
    failed: int
    failures: list[str]


@dataclass(frozen=True)
class ChartData:
    table: str
    title: str
    label: str
    value: str
    bars: list[tuple[str, float]]


@dataclass
class ProductStatus:
    name: str
    namespace: str
    description: str
    tables: list[TableStatus] = field(default_factory=list)
    quality: QualityStatus | None = None
    charts: list[ChartData] = field(default_factory=list)

    @property
    def updated_at(self) -> datetime | None:
        stamps = [t.updated_at for t in self.tables if t.updated_at is not None]
        return max(stamps) if stamps else None


def layer_of(table: str) -> str:
    name = table.rsplit(".", 1)[-1]
    return "quality" if name == QUALITY_TABLE else name.split("_", 1)[0]


def collect(warehouse: Warehouse, products: list[Product]) -> list[ProductStatus]:
    return [_product(warehouse, p) for p in products]


def _product(warehouse: Warehouse, product: Product) -> ProductStatus:
    ns = warehouse.namespace(product.namespace)
    status = ProductStatus(product.name, ns, product.description)
    identifiers = warehouse.tables(ns)
    for identifier in identifiers:
        table = warehouse.load(identifier)
        snap = table.current_snapshot()
        total = snap.summary.get("total-records") if snap and snap.summary else None
        rows = int(total) if total is not None else 0
        status.tables.append(
            TableStatus(
                identifier=identifier,
                layer=layer_of(identifier),
                rows=rows,
                snapshot_id=snap.snapshot_id if snap else None,
                snapshots=len(table.metadata.snapshots),
                updated_at=(
                    datetime.fromtimestamp(snap.timestamp_ms / 1000, UTC) if snap else None
                ),
            )
        )
    if f"{ns}.{QUALITY_TABLE}" in identifiers:
        status.quality = _quality(warehouse, f"{ns}.{QUALITY_TABLE}")
    for gold in product.gold:
        identifier = f"{ns}.gold_{gold.name}"
        if identifier not in identifiers:
            continue
        with warehouse.guarded():
            data = (
                warehouse.load(identifier)
                .scan(selected_fields=(gold.chart.label, gold.chart.value))
                .to_arrow()
                .to_pylist()
            )
        bars = sorted(
            ((str(r[gold.chart.label]), float(r[gold.chart.value])) for r in data),
            key=lambda bar: (-bar[1], bar[0]),
        )[: gold.chart.top]
        status.charts.append(
            ChartData(identifier, gold.chart.title, gold.chart.label, gold.chart.value, bars)
        )
    return status


def _quality(warehouse: Warehouse, identifier: str) -> QualityStatus | None:
    with warehouse.guarded():
        rows = warehouse.load(identifier).scan().to_arrow().to_pylist()
    if not rows:
        return None
    latest = max(rows, key=lambda r: (r["checked_at"], r["run_id"]))
    run = [r for r in rows if r["run_id"] == latest["run_id"]]
    failed = [r for r in run if not r["passed"]]
    return QualityStatus(
        run_id=latest["run_id"],
        checked_at=latest["checked_at"],
        passed=len(run) - len(failed),
        failed=len(failed),
        failures=[
            f"{r['layer']}.{r['table_name']} {r['check_name']}: {r['detail']}" for r in failed
        ],
    )


def to_json(statuses: list[ProductStatus]) -> list[dict[str, Any]]:
    """A JSON-ready form (datetimes as ISO strings) for the dashboard's /api/summary."""

    def convert(value: Any) -> Any:
        if isinstance(value, datetime):
            return value.isoformat()
        if isinstance(value, dict):
            return {k: convert(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [convert(v) for v in value]
        return value

    out = []
    for status in statuses:
        item = convert(asdict(status))
        item["updated_at"] = convert(status.updated_at)
        out.append(item)
    return out
