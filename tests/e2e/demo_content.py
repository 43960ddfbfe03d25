"""Content assertions for the demo, shared by tests/integration/demo (local PostgreSQL + S3)
and tests/e2e (the in-cluster platform, through port-forwards).

Independence: the expected gold values are recomputed here from the seed rows with
plain Python (Decimal money, explicit rules written out again), never by calling the
pipeline's silver or gold functions. The seed generator is the input, so it is used;
rows it reports as planted defects are the ones expected in quarantine, and every
other row is expected in silver.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import boto3
from pyiceberg.catalog.sql import SqlCatalog
from pyiceberg.expressions import EqualTo
from pyiceberg.table import Table

from demo.config import CATALOG_NAME, DemoSettings
from demo.model import SeedData
from demo.pipeline import RunResult, run_product
from demo.products import PRODUCTS
from demo.storage import Warehouse

Key = tuple[Any, ...]


def settings_for(postgres: Any, s3: Any, **extra: Any) -> DemoSettings:
    """Demo settings pointing at one test database and bucket (the ``postgres``/``s3`` fixtures)."""
    url = postgres.dsn.get_secret_value().replace("postgresql://", "postgresql+psycopg2://", 1)
    return DemoSettings(
        ICEBERG_CATALOG_URL=url,
        DEMO_WAREHOUSE=f"s3://{s3.bucket}/warehouse",
        S3_ENDPOINT_URL=s3.endpoint_url,
        AWS_ACCESS_KEY_ID=s3.access_key.get_secret_value(),
        AWS_SECRET_ACCESS_KEY=s3.secret_key.get_secret_value(),
        AWS_REGION=s3.region,
        **extra,
    )


def catalog(settings: DemoSettings) -> SqlCatalog:
    """A catalog client of the test's own, to read what the pipeline wrote."""
    return SqlCatalog(CATALOG_NAME, **settings.catalog_properties())


def rows_of(
    table: Table, run_id: str | None = None, snapshot_id: int | None = None
) -> list[dict[str, Any]]:
    scan = table.scan(
        row_filter=EqualTo("_run_id", run_id) if run_id else "True",
        snapshot_id=snapshot_id,
    )
    return scan.to_arrow().to_pylist()


# --- independent recomputation of gold from the seed rows ---------------------------------


def clean_rows(seed: SeedData, table: str) -> list[dict[str, str | None]]:
    dirty = {d.source_row for d in seed.planted if d.table == table}
    return [row for i, row in enumerate(seed.tables[table]) if i not in dirty]


def cents(text: str | None) -> int:
    assert text is not None
    return int(Decimal(text) * 100)


def expected_customer_360(seed: SeedData) -> dict[str, dict[Key, tuple[Any, ...]]]:
    completed_cents: dict[str, int] = defaultdict(int)
    completed_count: Counter[str] = Counter()
    for order in clean_rows(seed, "orders"):
        if order["status"] == "completed":
            completed_cents[str(order["customer_id"])] += cents(order["amount"])
            completed_count[str(order["customer_id"])] += 1
    ltv: dict[Key, tuple[Any, ...]] = {}
    segments: dict[str, list[int]] = {}
    for customer in clean_rows(seed, "customers"):
        cid = str(customer["customer_id"])
        value = completed_cents[cid]
        if completed_count[cid] == 0:
            segment = "dormant"
        elif value >= 2000_00:
            segment = "vip"
        elif value >= 800_00:
            segment = "loyal"
        else:
            segment = "regular"
        ltv[(cid,)] = (customer["name"], customer["region"], completed_count[cid], value, segment)
        acc = segments.setdefault(segment, [0, 0])
        acc[0] += 1
        acc[1] += value
    return {
        "customer_ltv": ltv,
        # The average is defined as total / customers, rounded to the cent.
        "segment_summary": {
            (s,): (n, total, round(total / n / 100, 2)) for s, (n, total) in segments.items()
        },
    }


def actual_customer_360(
    gold: dict[str, list[dict[str, Any]]],
) -> dict[str, dict[Key, tuple[Any, ...]]]:
    return {
        "customer_ltv": {
            (r["customer_id"],): (
                r["name"],
                r["region"],
                r["completed_orders"],
                round(r["lifetime_value"] * 100),
                r["segment"],
            )
            for r in gold["customer_ltv"]
        },
        "segment_summary": {
            (r["segment"],): (
                r["customers"],
                round(r["total_value"] * 100),
                r["average_value"],
            )
            for r in gold["segment_summary"]
        },
    }


def expected_iot_telemetry(seed: SeedData) -> dict[str, dict[Key, tuple[Any, ...]]]:
    readings: Counter[str] = Counter()
    anomalies: Counter[str] = Counter()
    last: dict[str, datetime] = {}
    for reading in clean_rows(seed, "readings"):
        mid = str(reading["machine_id"])
        readings[mid] += 1
        hot = Decimal(str(reading["temperature_c"])) > 95
        shaky = Decimal(str(reading["vibration_mm_s"])) > 12
        if hot or shaky:
            anomalies[mid] += 1
            ts = datetime.fromisoformat(str(reading["ts"]))
            last[mid] = max(ts, last.get(mid, ts))
    health: dict[Key, tuple[Any, ...]] = {}
    alerts: dict[Key, tuple[Any, ...]] = {}
    for machine in clean_rows(seed, "machines"):
        mid = str(machine["machine_id"])
        n, a = readings[mid], anomalies[mid]
        level = "critical" if a and 10 * a >= n else "warning" if a and 50 * a >= n else "ok"
        rate = round(a / n, 4) if n else 0.0  # anomalies per reading, 4 decimals
        health[(mid,)] = (machine["site"], n, a, rate, level)
        if level != "ok":
            alerts[(mid,)] = (machine["site"], level, a, last[mid])
    return {"machine_health": health, "maintenance_alerts": alerts}


def actual_iot_telemetry(
    gold: dict[str, list[dict[str, Any]]],
) -> dict[str, dict[Key, tuple[Any, ...]]]:
    return {
        "machine_health": {
            (r["machine_id"],): (
                r["site"],
                r["readings"],
                r["anomalies"],
                r["anomaly_rate"],
                r["alert_level"],
            )
            for r in gold["machine_health"]
        },
        "maintenance_alerts": {
            (r["machine_id"],): (
                r["site"],
                r["alert_level"],
                r["anomalies"],
                r["last_anomaly_at"],
            )
            for r in gold["maintenance_alerts"]
        },
    }


def expected_financial_risk(seed: SeedData) -> dict[str, dict[Key, tuple[Any, ...]]]:
    instruments = {str(i["instrument_id"]): i for i in clean_rows(seed, "instruments")}
    latest: dict[str, tuple[date, str, int]] = {}
    for price in clean_rows(seed, "prices"):
        iid = str(price["instrument_id"])
        candidate = (
            date.fromisoformat(str(price["price_date"])),
            str(price["price_id"]),
            cents(price["close"]),
        )
        if iid not in latest or candidate[:2] > latest[iid][:2]:
            latest[iid] = candidate
    portfolios: dict[str, list[int]] = {}
    classes: dict[str, list[int]] = {}
    for position in clean_rows(seed, "positions"):
        iid = str(position["instrument_id"])
        exposure = int(str(position["quantity"])) * (latest[iid][2] if iid in latest else 0)
        vol_bp = int(Decimal(str(instruments[iid]["volatility"])) * 10_000)
        p = portfolios.setdefault(str(position["portfolio_id"]), [0, 0, 0, 0])
        p[0] += 1
        p[1] += abs(exposure)
        p[2] += exposure
        p[3] += abs(exposure) * vol_bp
        c = classes.setdefault(str(instruments[iid]["asset_class"]), [0, 0])
        c[0] += 1
        c[1] += abs(exposure)
    risk: dict[Key, tuple[Any, ...]] = {}
    for pid, (n, gross, net, weighted) in portfolios.items():
        score = min(100.0, round(100 * weighted / (gross * 10_000), 2)) if gross else 0.0
        band = "high" if score >= 40 else "medium" if score >= 20 else "low"
        risk[(pid,)] = (n, gross, net, score, band)
    return {
        "portfolio_risk": risk,
        "exposure_by_asset_class": {(k,): (n, g) for k, (n, g) in classes.items()},
    }


def actual_financial_risk(
    gold: dict[str, list[dict[str, Any]]],
) -> dict[str, dict[Key, tuple[Any, ...]]]:
    return {
        "portfolio_risk": {
            (r["portfolio_id"],): (
                r["positions"],
                round(r["gross_exposure"] * 100),
                round(r["net_exposure"] * 100),
                r["risk_score"],
                r["risk_band"],
            )
            for r in gold["portfolio_risk"]
        },
        "exposure_by_asset_class": {
            (r["asset_class"],): (r["positions"], round(r["gross_exposure"] * 100))
            for r in gold["exposure_by_asset_class"]
        },
    }


#: Every column of every gold table, each compared above; a column added to a product
#: without a comparison here fails the check (``_run_id`` is the run's own key).
COMPARED = {
    "customer_ltv": {
        "customer_id",
        "name",
        "region",
        "completed_orders",
        "lifetime_value",
        "segment",
    },
    "segment_summary": {"segment", "customers", "total_value", "average_value"},
    "machine_health": {
        "machine_id",
        "site",
        "readings",
        "anomalies",
        "anomaly_rate",
        "alert_level",
    },
    "maintenance_alerts": {"machine_id", "site", "alert_level", "anomalies", "last_anomaly_at"},
    "portfolio_risk": {
        "portfolio_id",
        "positions",
        "gross_exposure",
        "net_exposure",
        "risk_score",
        "risk_band",
    },
    "exposure_by_asset_class": {"asset_class", "positions", "gross_exposure"},
}

RECOMPUTE = {
    "customer-360": (expected_customer_360, actual_customer_360),
    "iot-telemetry": (expected_iot_telemetry, actual_iot_telemetry),
    "financial-risk": (expected_financial_risk, actual_financial_risk),
}


# --- which run to check ---------------------------------------------------------------------


def run_of(result: RunResult) -> dict[str, Any]:
    """The keyword arguments of the content assertions for a run this process made."""
    return {
        "namespace": result.namespace,
        "product": result.product,
        "run_id": result.run_id,
        "scale": result.scale,
        "seed": result.seed,
        "revision": result.revision,
    }


def recorded_run(cat: SqlCatalog, namespace: str, product: str) -> dict[str, Any]:
    """The same, for the last run recorded on ``namespace`` (by a Job, or the CLI)."""
    props = cat.load_namespace_properties(namespace)
    missing = {"demo.last_run_id", "demo.seed", "demo.scale", "demo.revision"} - set(props)
    assert not missing, f"{namespace}: no recorded run ({sorted(missing)}); did the demo Job run?"
    return {
        "namespace": namespace,
        "product": product,
        "run_id": props["demo.last_run_id"],
        "scale": int(props["demo.scale"]),
        "seed": int(props["demo.seed"]),
        "revision": int(props["demo.revision"]),
    }


# --- assertions ---------------------------------------------------------------------------


def _diff(expected: dict[Key, Any], actual: dict[Key, Any]) -> str:
    missing = sorted(set(expected) - set(actual))[:3]
    extra = sorted(set(actual) - set(expected))[:3]
    wrong = [
        (k, expected[k], actual[k])
        for k in sorted(expected)
        if k in actual and expected[k] != actual[k]
    ][:3]
    return f"missing {missing}, unexpected {extra}, different (key, expected, actual) {wrong}"


def assert_gold_matches_seed(
    cat: SqlCatalog,
    *,
    namespace: str,
    product: str,
    run_id: str,
    scale: int,
    seed: int,
    revision: int,
) -> None:
    """Every gold row of the run equals the recomputation from the seed; nothing else is there."""
    spec = PRODUCTS[product]
    data = spec.generate(scale, seed, revision)
    expected_fn, actual_fn = RECOMPUTE[product]
    gold = {
        g.name: rows_of(cat.load_table(f"{namespace}.gold_{g.name}"), run_id) for g in spec.gold
    }
    expected, actual = expected_fn(data), actual_fn(gold)
    assert set(expected) == set(actual) == {g.name for g in spec.gold}
    for table in expected:
        assert expected[table], f"{product} {table}: the recomputation is empty; the seed is wrong"
        columns = {c for row in gold[table] for c in row} - {"_run_id"}
        assert columns == COMPARED[table], f"{product} gold_{table}: columns not compared"
        assert actual[table] == expected[table], (
            f"{product} gold_{table}: {_diff(expected[table], actual[table])}"
        )


def assert_bronze_equals_silver_plus_quarantine(
    cat: SqlCatalog, namespace: str, product: str, run_id: str
) -> None:
    for spec in PRODUCTS[product].sources:
        bronze = rows_of(cat.load_table(f"{namespace}.bronze_{spec.name}"), run_id)
        silver = rows_of(cat.load_table(f"{namespace}.silver_{spec.name}"), run_id)
        quarantine = rows_of(cat.load_table(f"{namespace}.quarantine_{spec.name}"), run_id)
        assert len(bronze) > 0
        assert len(bronze) == len(silver) + len(quarantine), (
            f"{spec.name}: bronze {len(bronze)} != silver {len(silver)}"
            f" + quarantine {len(quarantine)}"
        )
        # And it is a partition, not a coincidence of counts: every bronze row lands exactly once.
        landed = Counter(r["_source_row"] for r in silver + quarantine)
        assert landed == Counter(r["_source_row"] for r in bronze)


def assert_each_row_once(
    cat: SqlCatalog,
    *,
    namespace: str,
    product: str,
    run_id: str,
    scale: int,
    seed: int,
    revision: int,
) -> None:
    """Every seed row of the run is in bronze exactly once, and in silver or quarantine
    exactly once; every quality check of the run is recorded once (no retry doubled it)."""
    data = PRODUCTS[product].generate(scale, seed, revision)
    for spec in PRODUCTS[product].sources:
        fed = range(len(data.tables[spec.name]))
        bronze = rows_of(cat.load_table(f"{namespace}.bronze_{spec.name}"), run_id)
        landed = Counter(r["_source_row"] for r in bronze)
        assert landed == Counter(fed), (
            f"{spec.name}: bronze has {len(bronze)} rows of run {run_id} for "
            f"{len(fed)} seed rows (most landed {max(landed.values(), default=0)} times)"
        )
        refined = rows_of(cat.load_table(f"{namespace}.silver_{spec.name}"), run_id) + rows_of(
            cat.load_table(f"{namespace}.quarantine_{spec.name}"), run_id
        )
        assert Counter(r["_source_row"] for r in refined) == Counter(fed), (
            f"{spec.name}: silver + quarantine hold {len(refined)} rows of run {run_id} "
            f"for {len(fed)} seed rows"
        )
    quality = cat.load_table(f"{namespace}.quality_results").scan(
        row_filter=EqualTo("run_id", run_id)
    )
    checks = Counter(
        (r["layer"], r["table_name"], r["check_name"]) for r in quality.to_arrow().to_pylist()
    )
    assert checks, "the run recorded no quality checks"
    assert max(checks.values()) == 1, [k for k, n in checks.items() if n > 1][:3]


def assert_dirty_rows_quarantined(
    cat: SqlCatalog,
    *,
    namespace: str,
    product: str,
    run_id: str,
    scale: int,
    seed: int,
    revision: int,
) -> None:
    """Quarantine holds exactly the planted dirty rows, each with the planted reason."""
    data = PRODUCTS[product].generate(scale, seed, revision)
    for spec in PRODUCTS[product].sources:
        expected = {(d.source_row, d.reason) for d in data.planted if d.table == spec.name}
        rows = rows_of(cat.load_table(f"{namespace}.quarantine_{spec.name}"), run_id)
        actual = {(r["_source_row"], r["reason"]) for r in rows}
        assert expected, f"{spec.name}: the generator planted no dirty rows"
        assert actual == expected, (
            f"{spec.name}: missing {sorted(expected - actual)[:5]}, "
            f"unexpected {sorted(actual - expected)[:5]}"
        )
        # The raw values are kept as ingested, so the row can be fixed and replayed.
        raw = data.tables[spec.name]
        for r in rows:
            assert r[spec.key[0]] == raw[r["_source_row"]][spec.key[0]]


def assert_old_query_answers_after_column_added(
    cat: SqlCatalog, namespace: str, old_run: str, new_run: str, old_snapshot: int
) -> None:
    """customer-360 revision 2 added ``loyalty_tier``; a revision-1 query still answers."""
    table = cat.load_table(f"{namespace}.silver_customers")
    assert "loyalty_tier" in {f.name for f in table.schema().fields}
    assert table.metadata.snapshot_by_id(old_snapshot) is not None
    old_schema_fields = {
        f.name for f in table.schemas()[table.snapshot_by_id(old_snapshot).schema_id].fields
    }
    assert "loyalty_tier" not in old_schema_fields
    # The query a revision-1 consumer wrote: named columns and a filter, no new column.
    old_query = (
        table.scan(
            row_filter=EqualTo("region", "north"),
            selected_fields=("customer_id", "region", "_run_id"),
        )
        .to_arrow()
        .to_pylist()
    )
    by_run = Counter(r["_run_id"] for r in old_query)
    assert by_run[old_run] > 0
    assert by_run[old_run] == by_run[new_run], "same seed, same customers in both runs"
    tiers = {r["_run_id"]: set() for r in old_query}
    for r in table.scan(selected_fields=("_run_id", "loyalty_tier")).to_arrow().to_pylist():
        tiers.setdefault(r["_run_id"], set()).add(r["loyalty_tier"])
    assert tiers[old_run] == {None}, "rows written before the column existed read as null"
    assert None not in tiers[new_run]
    assert tiers[new_run] <= {"basic", "plus", "premier"}


def assert_time_travel(
    cat: SqlCatalog, identifier: str, snapshot_id: int, run_ids: Iterable[str]
) -> None:
    """Reading at ``snapshot_id`` returns exactly the rows of the runs committed up to it."""
    table = cat.load_table(identifier)
    assert table.current_snapshot() is not None
    assert table.current_snapshot().snapshot_id != snapshot_id
    then = rows_of(table, snapshot_id=snapshot_id)
    now = rows_of(table)
    assert {r["_run_id"] for r in then} == set(run_ids)
    assert len(now) > len(then)


def s3_keys(settings: DemoSettings, bucket: str) -> set[str]:
    client = boto3.client(
        "s3",
        endpoint_url=settings.s3_endpoint,
        aws_access_key_id=settings.s3_access_key.get_secret_value()
        if settings.s3_access_key
        else None,
        aws_secret_access_key=settings.s3_secret_key.get_secret_value()
        if settings.s3_secret_key
        else None,
        region_name=settings.s3_region,
    )
    keys: set[str] = set()
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        keys.update(f"s3://{bucket}/{o['Key']}" for o in page.get("Contents", []))
    return keys


def snapshot_files(table: Table, snapshot_id: int) -> set[str]:
    """The manifest list, manifests and live data files one snapshot reaches."""
    snap = table.metadata.snapshot_by_id(snapshot_id)
    assert snap is not None
    files = {snap.manifest_list}
    for manifest in snap.manifests(table.io):
        files.add(manifest.manifest_path)
        files.update(
            e.data_file.file_path
            for e in manifest.fetch_manifest_entry(table.io, discard_deleted=True)
        )
    return files


def assert_expired(
    settings: DemoSettings,
    cat: SqlCatalog,
    identifier: str,
    expired: set[int],
    files_before: dict[int, set[str]],
) -> None:
    """Expired snapshots are gone from the metadata and the files only they used from S3."""
    table = cat.load_table(identifier)
    kept = {s.snapshot_id for s in table.metadata.snapshots}
    assert expired, "the scenario expired nothing"
    assert not (kept & expired), f"still listed: {kept & expired}"
    live: set[str] = set()
    for sid in kept:
        live |= snapshot_files(table, sid)
    only_expired = set().union(*(files_before[s] for s in expired)) - live
    assert only_expired, "expired snapshots had no files of their own; the scenario proves nothing"
    bucket = settings.warehouse.removeprefix("s3://").split("/", 1)[0]
    present = s3_keys(settings, bucket)
    assert not (only_expired & present), f"left behind: {sorted(only_expired & present)[:3]}"
    assert live <= present, f"deleted while still referenced: {sorted(live - present)[:3]}"
    assert len(rows_of(table)) > 0


# --- scenarios: the demo's own entry point, driven the way a user drives it ---------------


def run(settings: DemoSettings, product: str, **kw: Any) -> Any:
    """One pipeline run through the demo's public entry point (what ``python -m demo run`` does)."""
    warehouse = Warehouse(settings)
    warehouse.ensure_bucket()
    return run_product(PRODUCTS[product], warehouse, scale=settings.scale, seed=settings.seed, **kw)


def check_product_content(settings: DemoSettings, product: str) -> None:
    """A full run of ``product``, then every content assertion on what it wrote."""
    result = run(settings, product)
    cat = catalog(settings)
    assert_bronze_equals_silver_plus_quarantine(cat, result.namespace, product, result.run_id)
    where = run_of(result)
    assert_dirty_rows_quarantined(cat, **where)
    assert_gold_matches_seed(cat, **where)


def check_schema_change_and_time_travel(settings: DemoSettings) -> None:
    """customer-360 at schema revision 1, then 2: old queries answer, old snapshots read back."""
    first = run(settings, "customer-360", revision=1)
    second = run(settings, "customer-360", revision=2)
    cat = catalog(settings)
    ns = first.namespace
    assert_old_query_answers_after_column_added(
        cat, ns, first.run_id, second.run_id, first.snapshot("silver_customers")
    )
    assert_time_travel(
        cat, f"{ns}.silver_customers", first.snapshot("silver_customers"), [first.run_id]
    )
    assert_time_travel(cat, f"{ns}.bronze_orders", first.snapshot("bronze_orders"), [first.run_id])
    # Gold is overwritten per run: the earlier snapshot still holds the earlier run's rows.
    gold_then = rows_of(
        cat.load_table(f"{ns}.gold_customer_ltv"), snapshot_id=first.snapshot("gold_customer_ltv")
    )
    assert {r["_run_id"] for r in gold_then} == {first.run_id}


def check_expiry(settings: DemoSettings) -> None:
    """Three runs keeping every snapshot, then one with a zero window keeping the newest only."""
    keep_all = settings.model_copy(update={"retain_last": 100})
    runs = [run(keep_all, "iot-telemetry") for _ in range(3)]
    cat = catalog(settings)
    ns = runs[0].namespace
    watched = [f"{ns}.gold_machine_health", f"{ns}.silver_readings"]
    before: dict[str, dict[int, set[str]]] = {}
    for identifier in watched:
        table = cat.load_table(identifier)
        assert len(table.metadata.snapshots) >= 3
        before[identifier] = {
            s.snapshot_id: snapshot_files(table, s.snapshot_id) for s in table.metadata.snapshots
        }
    prune = settings.model_copy(update={"retain_last": 1, "retention_hours": 0.0})
    last = run(prune, "iot-telemetry")
    for identifier in watched:
        expired = set(before[identifier]) - {
            s.snapshot_id for s in cat.load_table(identifier).metadata.snapshots
        }
        assert expired == set(before[identifier]), (
            "every pre-existing snapshot was outside the window"
        )
        assert_expired(settings, cat, identifier, expired, before[identifier])
    # The newest run is intact after expiry.
    assert_gold_matches_seed(cat, **run_of(last))


def check_recorded_run(settings: DemoSettings, product: str, namespace: str) -> None:
    """Check the last run recorded on ``namespace`` (by a Job, or ``python -m demo run``)."""
    cat = catalog(settings)
    where = recorded_run(cat, namespace, product)
    assert_bronze_equals_silver_plus_quarantine(cat, namespace, product, where["run_id"])
    assert_dirty_rows_quarantined(cat, **where)
    assert_gold_matches_seed(cat, **where)
