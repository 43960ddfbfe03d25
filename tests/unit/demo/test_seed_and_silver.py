"""Seeds are deterministic and plant known dirty rows; silver quarantines exactly those."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from demo.layers import bronze, silver
from demo.model import Column, Reference, TableSpec
from demo.products import PRODUCTS

PRODUCT_NAMES = sorted(PRODUCTS)


@pytest.mark.parametrize("name", PRODUCT_NAMES)
def test_same_seed_same_data_other_seed_other_data(name: str) -> None:
    product = PRODUCTS[name]
    first = product.generate(600, 3, product.latest_revision)
    again = product.generate(600, 3, product.latest_revision)
    other = product.generate(600, 4, product.latest_revision)
    assert first.tables == again.tables
    assert first.planted == again.planted
    assert first.tables != other.tables


@pytest.mark.parametrize("name", PRODUCT_NAMES)
def test_fact_tables_have_scale_rows_and_every_defect_kind(name: str) -> None:
    product = PRODUCTS[name]
    data = product.generate(1000, 1, product.latest_revision)
    assert max(len(rows) for rows in data.tables.values()) == 1000
    kinds = {d.reason.split(":")[0] for d in data.planted}
    assert {"null", "out_of_range", "duplicate"} <= kinds
    assert {"unparseable", "orphan"} & kinds
    for table, rows in data.tables.items():
        planted = [d for d in data.planted if d.table == table]
        assert 0 < len(planted) <= len(rows) // 4


def test_revision_two_only_adds_the_loyalty_tier_column() -> None:
    product = PRODUCTS["customer-360"]
    old, new = product.generate(500, 9, 1), product.generate(500, 9, 2)
    assert old.tables["orders"] == new.tables["orders"]
    assert [
        {k: v for k, v in row.items() if k != "loyalty_tier"} for row in new.tables["customers"]
    ] == old.tables["customers"]
    assert "loyalty_tier" not in old.tables["customers"][0]
    assert new.tables["customers"][0]["loyalty_tier"] in {"basic", "plus", "premier"}


@pytest.mark.parametrize("name", PRODUCT_NAMES)
def test_silver_quarantines_exactly_the_planted_rows(name: str) -> None:
    product = PRODUCTS[name]
    data = product.generate(800, 5, product.latest_revision)
    parents: dict[str, set[object]] = {}
    now = datetime(2026, 1, 1, tzinfo=UTC)
    for spec in product.sources:
        rows = bronze.land(spec, data.tables[spec.name], "r1", now, product.latest_revision)
        refined = silver.refine(spec, rows, parents, product.latest_revision)
        parents[spec.name] = {r[spec.key[0]] for r in refined.valid}
        got = {(q["_source_row"], q["reason"]) for q in refined.quarantined}
        want = {(d.source_row, d.reason) for d in data.planted if d.table == spec.name}
        assert got == want
        assert len(refined.valid) + len(refined.quarantined) == len(rows)


SPEC = TableSpec(
    name="t",
    columns=(
        Column("id", "str"),
        Column("parent", "str"),
        Column("n", "int", minimum=0, maximum=10),
        Column("colour", "str", allowed=frozenset({"red"})),
        Column("note", "str", required=False),
    ),
    key=("id",),
    references=(Reference("parent", "p", "id"),),
)


def _row(key: int, source_row: int = 0, **values: str | None) -> dict[str, object]:
    base: dict[str, object] = {
        "id": f"k{key}",
        "parent": "p1",
        "n": "5",
        "colour": "red",
        "note": None,
    }
    return {**base, **values, "_source_row": source_row, "_run_id": "r"}


@pytest.mark.parametrize(
    ("values", "reason"),
    [
        ({"n": None}, "null:n"),
        ({"n": " "}, "null:n"),
        ({"n": "5.5"}, "unparseable:n"),
        ({"n": "11"}, "out_of_range:n"),
        ({"n": "-1"}, "out_of_range:n"),
        ({"colour": "blue"}, "invalid_value:colour"),
        ({"parent": "nope"}, "orphan:parent"),
    ],
)
def test_refine_gives_the_first_failing_rule_as_reason(
    values: dict[str, str | None], reason: str
) -> None:
    refined = silver.refine(SPEC, [_row(0, **values)], {"p": {"p1"}}, 1)
    assert refined.valid == []
    assert refined.quarantined[0]["reason"] == reason


def test_refine_keeps_first_duplicate_and_types_values() -> None:
    refined = silver.refine(
        SPEC, [_row(0, 0), _row(0, 1, n="7"), _row(1, 2, n="0")], {"p": {"p1"}}, 1
    )
    assert [(r["id"], r["n"], r["_source_row"]) for r in refined.valid] == [
        ("k0", 5, 0),
        ("k1", 0, 2),
    ]
    assert [(q["_source_row"], q["reason"], q["n"]) for q in refined.quarantined] == [
        (1, "duplicate:id", "7")
    ]
