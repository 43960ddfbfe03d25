"""Quality checks fail on planted bad data, and a failing check stops a real run.

The run tests use a real PyIceberg SQL catalog on SQLite with file:// data files:
the same library code paths as PostgreSQL + S3, without a server (those run in
tests/integration/demo).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from pathlib import Path

import pytest
from pyiceberg.catalog.sql import SqlCatalog

from demo import quality
from demo.__main__ import main
from demo.config import CATALOG_NAME, DemoSettings
from demo.errors import QualityError
from demo.model import Column, Reference, Row
from demo.pipeline import run_product
from demo.products import PRODUCTS, customer_360
from demo.storage import Warehouse


def test_checks_fail_on_planted_bad_rows() -> None:
    rows = [{"id": "a", "v": 1}, {"id": "a", "v": None}, {"id": "b", "v": 99}]
    assert not quality.not_null("silver", "t", rows, ["v"]).passed
    dup = quality.unique("silver", "t", rows, ["id"])
    assert (dup.passed, dup.detail) == (False, "1 duplicate keys, e.g. 'a'")
    rng = quality.in_range("gold", "t", rows, [Column("v", "int", maximum=10)])
    assert (rng.passed, rng.detail) == (False, "1 values out of range, e.g. 'v=99'")
    ref = quality.references("silver", "t", rows, [Reference("id", "p", "id")], {"p": {"a"}})
    assert (ref.passed, ref.detail) == (False, "1 dangling, e.g. \"id='b'\"")
    assert not quality.reconciled("t", 10, 7, 2).passed
    assert not quality.quarantine_share("t", 10, 3).passed
    assert quality.quarantine_share("t", 10, 2).passed


def test_checks_pass_on_good_rows() -> None:
    rows = [{"id": "a", "v": 1}, {"id": "b", "v": 2}]
    assert quality.not_null("silver", "t", rows, ["v"]).passed
    assert quality.unique("silver", "t", rows, ["id"]).detail == "2 distinct keys"
    assert quality.in_range("silver", "t", rows, [Column("v", "int", maximum=10)]).passed


@pytest.fixture
def settings(tmp_path: Path) -> DemoSettings:
    return DemoSettings(
        ICEBERG_CATALOG_URL=f"sqlite:///{tmp_path}/catalog.db",
        DEMO_WAREHOUSE=f"file://{tmp_path}/warehouse",
        DEMO_SEED_SCALE=200,
    )


def _drop_one_customer(silver: Mapping[str, Sequence[Row]]) -> dict[str, list[Row]]:
    gold = customer_360.build_gold(silver)
    biggest = max(gold["segment_summary"], key=lambda r: r["customers"])
    biggest["customers"] -= 1  # a planted aggregation bug
    return gold


@pytest.mark.requirement("DEMO-009")
def test_failing_gold_check_stops_the_run_with_a_report(settings: DemoSettings) -> None:
    broken = dataclasses.replace(PRODUCTS["customer-360"], build_gold=_drop_one_customer)
    with pytest.raises(QualityError) as caught:
        run_product(broken, Warehouse(settings), scale=200, seed=1)
    lines = caught.value.report.splitlines()
    assert lines[0].startswith("data-quality report for customer-360 (run ")
    assert lines[0].endswith(": 1 of 27 checks failed")
    assert lines[1].startswith("  FAIL gold.* segments_cover_all_customers: ")
    cat = SqlCatalog(CATALOG_NAME, **settings.catalog_properties())
    tables = {t[1] for t in cat.list_tables("customer_360")}
    assert "gold_customer_ltv" not in tables, "nothing past the failing layer is written"
    assert {"silver_orders", "quality_results"} <= tables
    results = cat.load_table("customer_360.quality_results").scan().to_arrow().to_pylist()
    assert [r["check_name"] for r in results if not r["passed"]] == ["segments_cover_all_customers"]


@pytest.mark.requirement("DEMO-009")
def test_cli_prints_report_and_one_error_line_and_exits_1(
    settings: DemoSettings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = dataclasses.replace(PRODUCTS["customer-360"], build_gold=_drop_one_customer)
    monkeypatch.setitem(PRODUCTS, "customer-360", broken)
    monkeypatch.setenv("ICEBERG_CATALOG_URL", settings.catalog_url.get_secret_value())
    monkeypatch.setenv("DEMO_WAREHOUSE", settings.warehouse)
    code = main(["run", "--product", "customer-360", "--scale", "200", "--quiet"])
    err = capsys.readouterr().err.splitlines()
    assert code == 1
    assert err[-1].startswith("error: customer-360: 1 data-quality checks failed in gold;")
    assert "Traceback" not in "\n".join(err)
    assert any(line.startswith("  FAIL gold.* segments_cover_all_customers") for line in err)


def test_cli_run_builds_a_product(
    settings: DemoSettings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("ICEBERG_CATALOG_URL", settings.catalog_url.get_secret_value())
    monkeypatch.setenv("DEMO_WAREHOUSE", settings.warehouse)
    assert main(["run", "--product", "iot-telemetry", "--scale", "300", "--quiet"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split() == ["product", "table", "rows", "snapshot"]
    rows = {line.split()[1]: int(line.split()[2]) for line in out[1:]}
    assert rows["iot_telemetry.bronze_readings"] == 300
    assert rows["iot_telemetry.silver_readings"] + rows["iot_telemetry.quarantine_readings"] == 300
    assert main(["status"]) == 0
    status = capsys.readouterr().out
    assert "iot-telemetry [iot_telemetry]: quality 27 passed, 0 failed" in status


def test_cli_missing_catalog_is_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("ICEBERG_CATALOG_URL", raising=False)
    assert main(["status"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert err[0].startswith(
        "error: demo configuration is invalid (ICEBERG_CATALOG_URL: Field required)"
    )


def test_cli_unreachable_catalog_is_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("ICEBERG_CATALOG_URL", "postgresql+psycopg2://u:p@127.0.0.1:9/nowhere")
    assert main(["status"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert err[0].startswith("error: Iceberg catalog database at 127.0.0.1:9 failed:")
    assert "u:p" not in err[0]
