"""iot-telemetry (manufacturing): machines and sensor readings -> anomalies and alerts.

A reading is anomalous when it is valid but hot or shaking; alert levels compare the
anomaly count with the reading count in integers, so there is no float boundary noise.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, timedelta

from demo.model import Chart, Column, GoldTable, Product, Reference, Row, SeedData, TableSpec
from demo.seed import Defect, duplicates_in, plant, rng_for

NAME = "iot-telemetry"
SITES = frozenset({"plant-a", "plant-b", "plant-c"})
LEVELS = frozenset({"ok", "warning", "critical"})
HOT_C = 95.0
SHAKY_MM_S = 12.0
START = datetime(2026, 1, 1, tzinfo=UTC)

MACHINES = TableSpec(
    name="machines",
    columns=(
        Column("machine_id", "str"),
        Column("site", "str", allowed=SITES),
        Column("model", "str"),
        Column("installed_on", "date"),
    ),
    key=("machine_id",),
)
READINGS = TableSpec(
    name="readings",
    columns=(
        Column("reading_id", "str"),
        Column("machine_id", "str"),
        Column("ts", "timestamp"),
        Column("temperature_c", "float", minimum=-40, maximum=150),
        Column("vibration_mm_s", "float", minimum=0, maximum=100),
        Column("pressure_kpa", "float", minimum=0, maximum=1000),
    ),
    key=("reading_id",),
    references=(Reference("machine_id", "machines", "machine_id"),),
)
MACHINE_DEFECTS = (
    Defect("null", "site"),
    Defect("duplicate"),
    Defect("invalid_value", "site", "plant-z"),
)
READING_DEFECTS = (
    Defect("null", "machine_id"),
    Defect("out_of_range", "temperature_c", "999.0"),
    Defect("out_of_range", "vibration_mm_s", "-3.0"),
    Defect("unparseable", "ts", "yesterday"),
    Defect("orphan", "machine_id", "M99999"),
    Defect("duplicate"),
)


def machine_count(scale: int) -> int:
    return max(30, scale // 100)


def generate(scale: int, seed: int, revision: int) -> SeedData:
    del revision  # one schema revision so far
    rng = rng_for(NAME, seed)
    n_machines = machine_count(scale)
    clean_machines = [
        {
            "machine_id": f"M{i:05d}",
            "site": rng.choice(sorted(SITES)),
            "model": rng.choice(("press-400", "lathe-x2", "mill-7", "robot-arm")),
            "installed_on": (date(2020, 1, 1) + timedelta(days=rng.randint(0, 2000))).isoformat(),
        }
        for i in range(n_machines - duplicates_in(MACHINE_DEFECTS, n_machines))
    ]
    machines, planted, untouched = plant(MACHINES, clean_machines, MACHINE_DEFECTS, n_machines, rng)
    ids = [clean_machines[i]["machine_id"] for i in untouched]
    # A few machines run hot: they produce most anomalies, so alert levels differ.
    wear = {mid: (0.25 if rng.random() < 0.15 else 0.01) for mid in ids}
    clean_readings = []
    for i in range(scale - duplicates_in(READING_DEFECTS, scale)):
        mid = rng.choice(ids)
        faulty = rng.random() < wear[mid]
        clean_readings.append(
            {
                "reading_id": f"R{i:09d}",
                "machine_id": mid,
                "ts": (START + timedelta(seconds=i * 30)).isoformat(),
                "temperature_c": f"{rng.uniform(96, 140) if faulty else rng.uniform(20, 90):.2f}",
                "vibration_mm_s": f"{rng.uniform(0.5, 11.5):.2f}",
                "pressure_kpa": f"{rng.uniform(90, 400):.1f}",
            }
        )
    readings, reading_planted, _ = plant(READINGS, clean_readings, READING_DEFECTS, scale, rng)
    return SeedData({"machines": machines, "readings": readings}, planted + reading_planted)


def is_anomaly(reading: Row) -> bool:
    return bool(reading["temperature_c"] > HOT_C or reading["vibration_mm_s"] > SHAKY_MM_S)


def alert_level(anomalies: int, readings: int) -> str:
    if anomalies and anomalies * 10 >= readings:
        return "critical"
    if anomalies and anomalies * 50 >= readings:
        return "warning"
    return "ok"


def build_gold(silver: Mapping[str, Sequence[Row]]) -> dict[str, list[Row]]:
    counts: dict[str, list[int]] = {m["machine_id"]: [0, 0] for m in silver["machines"]}
    last_anomaly: dict[str, datetime] = {}
    for reading in silver["readings"]:
        mid = reading["machine_id"]
        counts[mid][0] += 1
        if is_anomaly(reading):
            counts[mid][1] += 1
            if mid not in last_anomaly or reading["ts"] > last_anomaly[mid]:
                last_anomaly[mid] = reading["ts"]
    health: list[Row] = []
    alerts: list[Row] = []
    for machine in silver["machines"]:
        mid = machine["machine_id"]
        total, anomalies = counts[mid]
        level = alert_level(anomalies, total)
        health.append(
            {
                "machine_id": mid,
                "site": machine["site"],
                "readings": total,
                "anomalies": anomalies,
                "anomaly_rate": round(anomalies / total, 4) if total else 0.0,
                "alert_level": level,
            }
        )
        if level != "ok":
            alerts.append(
                {
                    "machine_id": mid,
                    "site": machine["site"],
                    "alert_level": level,
                    "anomalies": anomalies,
                    "last_anomaly_at": last_anomaly[mid],
                }
            )
    return {"machine_health": health, "maintenance_alerts": alerts}


def reconcile(
    silver: Mapping[str, Sequence[Row]], gold: Mapping[str, Sequence[Row]]
) -> list[tuple[str, bool, str]]:
    readings = sum(r["readings"] for r in gold["machine_health"])
    anomalies = sum(r["anomalies"] for r in gold["machine_health"])
    silver_anomalies = sum(1 for r in silver["readings"] if is_anomaly(r))
    alerted = sum(1 for r in gold["machine_health"] if r["alert_level"] != "ok")
    return [
        (
            "readings_accounted",
            readings == len(silver["readings"]),
            f"{readings} in gold, {len(silver['readings'])} silver readings",
        ),
        (
            "anomalies_accounted",
            anomalies == silver_anomalies,
            f"{anomalies} in gold, {silver_anomalies} anomalous silver readings",
        ),
        (
            "alerts_match_health",
            alerted == len(gold["maintenance_alerts"]),
            f"{alerted} machines not ok, {len(gold['maintenance_alerts'])} alerts",
        ),
    ]


PRODUCT = Product(
    name=NAME,
    namespace="iot_telemetry",
    description="Manufacturing: sensor readings; anomaly counts and maintenance alerts.",
    sources=(MACHINES, READINGS),
    gold=(
        GoldTable(
            "machine_health",
            key=("machine_id",),
            columns=(
                Column("machine_id", "str"),
                Column("site", "str", allowed=SITES),
                Column("readings", "int", minimum=0),
                Column("anomalies", "int", minimum=0),
                Column("anomaly_rate", "float", minimum=0, maximum=1),
                Column("alert_level", "str", allowed=LEVELS),
            ),
            chart=Chart("machine_id", "anomalies", title="Anomalies per machine"),
        ),
        GoldTable(
            "maintenance_alerts",
            key=("machine_id",),
            columns=(
                Column("machine_id", "str"),
                Column("site", "str", allowed=SITES),
                Column("alert_level", "str", allowed=frozenset({"warning", "critical"})),
                Column("anomalies", "int", minimum=1),
                Column("last_anomaly_at", "timestamp"),
            ),
            chart=Chart("machine_id", "anomalies", title="Open maintenance alerts"),
        ),
    ),
    generate=generate,
    build_gold=build_gold,
    reconcile=reconcile,
)
