"""One product run: seed -> bronze -> silver (+ quarantine) -> gold, checked at each layer.

A layer whose checks fail stops the run before anything downstream is written; the
quality results are written either way so ``status`` and the dashboard show why.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from demo import quality
from demo.errors import QualityError
from demo.layers import bronze, silver
from demo.model import Product, Row
from demo.progress import Progress
from demo.quality import CheckResult
from demo.storage import ExpiryResult, Warehouse, arrow_schema

QUALITY_TABLE = "quality_results"
QUALITY_SCHEMA = arrow_schema(
    [
        ("run_id", "str"),
        ("product", "str"),
        ("layer", "str"),
        ("table_name", "str"),
        ("check_name", "str"),
        ("passed", "bool"),
        ("detail", "str"),
        ("checked_at", "timestamp"),
    ]
)


@dataclass(frozen=True)
class TableWrite:
    identifier: str
    layer: str
    rows: int
    snapshot_id: int


@dataclass
class RunResult:
    product: str
    namespace: str
    run_id: str
    scale: int
    seed: int
    revision: int
    writes: list[TableWrite] = field(default_factory=list)
    checks: list[CheckResult] = field(default_factory=list)
    expired: list[ExpiryResult] = field(default_factory=list)

    def snapshot(self, table: str) -> int:
        for write in self.writes:
            if write.identifier.endswith("." + table):
                return write.snapshot_id
        raise KeyError(table)


def new_run_id(now: datetime) -> str:
    return f"{now:%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:8]}"


def run_product(
    product: Product,
    warehouse: Warehouse,
    *,
    scale: int,
    seed: int,
    revision: int | None = None,
    progress: Progress | None = None,
    expire: bool = True,
    run_id: str | None = None,
) -> RunResult:
    """Build one product end to end and return what was written; raises QualityError.

    ``run_id`` is the run's idempotency key (default: a new one). Every table's rows of
    that run are replaced, not added to, so retrying an interrupted run with its id
    leaves each row once.
    """
    progress = progress or Progress(product.name, enabled=False)
    revision = revision or product.latest_revision
    now = datetime.now(UTC)
    ns = warehouse.namespace(product.namespace)
    result = RunResult(product.name, ns, run_id or new_run_id(now), scale, seed, revision)
    progress.say(f"run {result.run_id}: scale {scale}, seed {seed}, schema revision {revision}")
    with progress.step("seed"):
        seed_data = product.generate(scale, seed, revision)
    warehouse.ensure_namespace(ns)
    try:
        layers = _Layers(
            product,
            warehouse=warehouse,
            result=result,
            progress=progress,
            revision=revision,
            now=now,
        )
        layers.bronze(seed_data.tables)
        layers.silver()
        layers.gold()
        warehouse.record_run(
            ns,
            {
                "demo.last_run_id": result.run_id,
                "demo.seed": str(seed),
                "demo.scale": str(scale),
                "demo.revision": str(revision),
            },
        )
    finally:
        if result.checks:
            _write_quality(warehouse, result, now)
    if expire:
        with progress.step("expire snapshots"):
            older_than = now - timedelta(hours=warehouse.settings.retention_hours)
            for identifier in warehouse.tables(ns):
                outcome = warehouse.expire(
                    identifier, older_than=older_than, retain_last=warehouse.settings.retain_last
                )
                if outcome.expired:
                    result.expired.append(outcome)
                    progress.say(
                        f"{identifier}: expired {len(outcome.expired)} snapshots, "
                        f"deleted {len(outcome.deleted_files)} files"
                    )
    return result


class _Layers:
    """The per-layer steps of one run, sharing the rows each layer hands to the next."""

    def __init__(
        self,
        product: Product,
        *,
        warehouse: Warehouse,
        result: RunResult,
        progress: Progress,
        revision: int,
        now: datetime,
    ) -> None:
        self.product = product
        self.warehouse = warehouse
        self.result = result
        self.progress = progress
        self.revision = revision
        self.now = now
        self.bronze_rows: dict[str, list[Row]] = {}
        self.silver_rows: dict[str, list[Row]] = {}

    def _write(
        self, layer: str, name: str, columns: Sequence[tuple[str, str]], rows: list[Row], **kw: Any
    ) -> None:
        identifier = f"{self.result.namespace}.{name}"
        if not kw.get("overwrite"):
            kw["replace"] = ("_run_id", self.result.run_id)
        snapshot = self.warehouse.write(identifier, arrow_schema(columns), rows, **kw)
        self.result.writes.append(TableWrite(identifier, layer, len(rows), snapshot))

    def _gate(self, layer: str, checks: list[CheckResult]) -> None:
        self.result.checks.extend(checks)
        failed = quality.failures(checks)
        if failed:
            raise QualityError(
                f"{self.product.name}: {len(failed)} data-quality checks failed in {layer}; "
                f"nothing past {layer} was written (see the report above)",
                quality.report(self.product.name, self.result.run_id, self.result.checks),
            )

    def bronze(self, feeds: dict[str, list[dict[str, str | None]]]) -> None:
        with self.progress.step("bronze"):
            checks: list[CheckResult] = []
            for spec in self.product.sources:
                rows = bronze.land(
                    spec, feeds[spec.name], self.result.run_id, self.now, self.revision
                )
                self.bronze_rows[spec.name] = rows
                checks += [
                    quality.row_count("bronze", spec.name, len(rows), len(feeds[spec.name]), "fed"),
                    quality.unique("bronze", spec.name, rows, ("_source_row",)),
                    quality.not_null("bronze", spec.name, rows, bronze.META),
                ]
            self._gate("bronze", checks)
            for spec in self.product.sources:
                columns = [(c.name, "str") for c in spec.columns_at(self.revision)]
                columns += [
                    ("_source_row", "int"),
                    ("_run_id", "str"),
                    ("_ingested_at", "timestamp"),
                ]
                self._write("bronze", f"bronze_{spec.name}", columns, self.bronze_rows[spec.name])

    def silver(self) -> None:
        with self.progress.step("silver"):
            parents: dict[str, set[Any]] = {}
            checks: list[CheckResult] = []
            quarantined: dict[str, list[Row]] = {}
            for spec in self.product.sources:
                raw = self.bronze_rows[spec.name]
                tick = self.progress.counter(f"silver {spec.name}", len(raw))
                refined = silver.refine(spec, raw, parents, self.revision, tick)
                key = spec.key[0]
                parents[spec.name] = {r[key] for r in refined.valid}
                self.silver_rows[spec.name] = refined.valid
                quarantined[spec.name] = refined.quarantined
                columns = spec.columns_at(self.revision)
                checks += [
                    quality.not_null(
                        "silver", spec.name, refined.valid, [c.name for c in columns if c.required]
                    ),
                    quality.unique("silver", spec.name, refined.valid, spec.key),
                    quality.in_range("silver", spec.name, refined.valid, columns),
                    quality.references(
                        "silver", spec.name, refined.valid, spec.references, parents
                    ),
                    quality.reconciled(
                        spec.name, len(raw), len(refined.valid), len(refined.quarantined)
                    ),
                    quality.quarantine_share(spec.name, len(raw), len(refined.quarantined)),
                ]
            self._gate("silver", checks)
            for spec in self.product.sources:
                cols = spec.columns_at(self.revision)
                self._write(
                    "silver",
                    f"silver_{spec.name}",
                    [(c.name, c.kind) for c in cols] + [("_source_row", "int"), ("_run_id", "str")],
                    self.silver_rows[spec.name],
                )
                self._write(
                    "quarantine",
                    f"quarantine_{spec.name}",
                    [(c.name, "str") for c in cols]
                    + [("_source_row", "int"), ("_run_id", "str"), ("reason", "str")],
                    quarantined[spec.name],
                )

    def gold(self) -> None:
        with self.progress.step("gold"):
            gold = self.product.build_gold(self.silver_rows)
            checks: list[CheckResult] = []
            for table in self.product.gold:
                rows = gold[table.name]
                checks += [
                    quality.not_null(
                        "gold", table.name, rows, [c.name for c in table.columns if c.required]
                    ),
                    quality.unique("gold", table.name, rows, table.key),
                    quality.in_range("gold", table.name, rows, table.columns),
                ]
            checks += [
                CheckResult("gold", "*", name, passed, detail)
                for name, passed, detail in self.product.reconcile(self.silver_rows, gold)
            ]
            self._gate("gold", checks)
            for table in self.product.gold:
                rows = [{**r, "_run_id": self.result.run_id} for r in gold[table.name]]
                columns = [(c.name, c.kind) for c in table.columns] + [("_run_id", "str")]
                self._write("gold", f"gold_{table.name}", columns, rows, overwrite=True)


def _write_quality(warehouse: Warehouse, result: RunResult, now: datetime) -> None:
    rows = [
        {
            "run_id": result.run_id,
            "product": result.product,
            "layer": c.layer,
            "table_name": c.table,
            "check_name": c.check,
            "passed": c.passed,
            "detail": c.detail,
            "checked_at": now,
        }
        for c in result.checks
    ]
    identifier = f"{result.namespace}.{QUALITY_TABLE}"
    snapshot = warehouse.write(identifier, QUALITY_SCHEMA, rows, replace=("run_id", result.run_id))
    result.writes.append(TableWrite(identifier, "quality", len(rows), snapshot))
