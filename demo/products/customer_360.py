"""customer-360 (retail): customers and orders -> lifetime value and segments.

Money is summed in integer cents so gold totals are exact and reproducible.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Mapping, Sequence
from datetime import date, timedelta

from demo.model import (
    Chart,
    Column,
    GoldTable,
    Product,
    Reference,
    Row,
    SeedData,
    TableSpec,
)
from demo.seed import Defect, duplicates_in, money, plant, rng_for

NAME = "customer-360"
REGIONS = frozenset({"north", "south", "east", "west"})
STATUSES = frozenset({"completed", "returned", "cancelled"})
TIERS = frozenset({"basic", "plus", "premier"})
BASE_DATE = date(2026, 1, 1)

CUSTOMERS = TableSpec(
    name="customers",
    columns=(
        Column("customer_id", "str"),
        Column("name", "str"),
        Column("email", "str", required=False),
        Column("region", "str", allowed=REGIONS),
        Column("age", "int", minimum=18, maximum=110),
        Column("signup_date", "date"),
        Column("loyalty_tier", "str", required=False, allowed=TIERS, revision=2),
    ),
    key=("customer_id",),
)
ORDERS = TableSpec(
    name="orders",
    columns=(
        Column("order_id", "str"),
        Column("customer_id", "str"),
        Column("order_date", "date"),
        Column("amount", "float", minimum=0.01, maximum=100_000),
        Column("status", "str", allowed=STATUSES),
    ),
    key=("order_id",),
    references=(Reference("customer_id", "customers", "customer_id"),),
)

CUSTOMER_DEFECTS = (
    Defect("null", "name"),
    Defect("out_of_range", "age", "212"),
    Defect("invalid_value", "region", "atlantis"),
    Defect("duplicate"),
    Defect("unparseable", "age", "forty"),
)
ORDER_DEFECTS = (
    Defect("null", "amount"),
    Defect("out_of_range", "amount", "-25.00"),
    Defect("unparseable", "order_date", "2026-13-45"),
    Defect("orphan", "customer_id", "C9999999"),
    Defect("duplicate"),
    Defect("invalid_value", "status", "lost"),
    Defect("null", "customer_id"),
)

#: Lifetime value (in cents) at or above which a customer is in a segment; else "regular",
#: or "dormant" with no completed order.
SEGMENT_FLOORS = (("vip", 200_000), ("loyal", 80_000))


def customer_count(scale: int) -> int:
    return max(50, scale // 5)


def generate(scale: int, seed: int, revision: int) -> SeedData:
    rng = rng_for(NAME, seed)
    n_customers = customer_count(scale)
    clean_customers = []
    first = ("Ada", "Grace", "Alan", "Edsger", "Barbara", "Ken", "Radia", "Donald", "Frances")
    last = ("Lovelace", "Hopper", "Turing", "Dijkstra", "Liskov", "Thompson", "Perlman", "Knuth")
    for i in range(n_customers - duplicates_in(CUSTOMER_DEFECTS, n_customers)):
        name = f"{rng.choice(first)} {rng.choice(last)}"
        row = {
            "customer_id": f"C{i:07d}",
            "name": name,
            "email": None
            if rng.random() < 0.1
            else f"{name.split(maxsplit=1)[0].lower()}{i}@example.com",
            "region": rng.choice(sorted(REGIONS)),
            "age": str(rng.randint(18, 90)),
            "signup_date": (BASE_DATE - timedelta(days=rng.randint(0, 1500))).isoformat(),
        }
        tier = rng.choice(sorted(TIERS))  # drawn at every revision so the rest stays identical
        if revision >= 2:
            row["loyalty_tier"] = tier
        clean_customers.append(row)
    customers, planted, untouched = plant(
        CUSTOMERS, clean_customers, CUSTOMER_DEFECTS, n_customers, rng
    )
    # Some customers buy often, most rarely: a skewed choice gives every segment members.
    buyers = [clean_customers[i]["customer_id"] for i in untouched]
    # Cumulative weights once: passing plain weights would re-add them on every draw.
    cum_weights = list(itertools.accumulate(rng.paretovariate(1.3) for _ in buyers))
    clean_orders = []
    for i in range(scale - duplicates_in(ORDER_DEFECTS, scale)):
        status = rng.choices(("completed", "returned", "cancelled"), (85, 10, 5))[0]
        clean_orders.append(
            {
                "order_id": f"O{i:08d}",
                "customer_id": rng.choices(buyers, cum_weights=cum_weights)[0],
                "order_date": (BASE_DATE + timedelta(days=rng.randint(0, 364))).isoformat(),
                "amount": money(rng.uniform(5, 600)),
                "status": status,
            }
        )
    orders, order_planted, _ = plant(ORDERS, clean_orders, ORDER_DEFECTS, scale, rng)
    return SeedData({"customers": customers, "orders": orders}, planted + order_planted)


def segment_of(ltv_cents: int, completed: int) -> str:
    if completed == 0:
        return "dormant"
    for segment, floor in SEGMENT_FLOORS:
        if ltv_cents >= floor:
            return segment
    return "regular"


def build_gold(silver: Mapping[str, Sequence[Row]]) -> dict[str, list[Row]]:
    cents: dict[str, int] = defaultdict(int)
    completed: dict[str, int] = defaultdict(int)
    for order in silver["orders"]:
        if order["status"] == "completed":
            cents[order["customer_id"]] += round(order["amount"] * 100)
            completed[order["customer_id"]] += 1
    ltv_rows: list[Row] = []
    summary: dict[str, list[int]] = {}
    for customer in silver["customers"]:
        cid = customer["customer_id"]
        segment = segment_of(cents[cid], completed[cid])
        ltv_rows.append(
            {
                "customer_id": cid,
                "name": customer["name"],
                "region": customer["region"],
                "completed_orders": completed[cid],
                "lifetime_value": cents[cid] / 100,
                "segment": segment,
            }
        )
        bucket = summary.setdefault(segment, [0, 0])
        bucket[0] += 1
        bucket[1] += cents[cid]
    segment_rows: list[Row] = [
        {
            "segment": segment,
            "customers": count,
            "total_value": total / 100,
            "average_value": round(total / count / 100, 2),
        }
        for segment, (count, total) in sorted(summary.items())
    ]
    return {"customer_ltv": ltv_rows, "segment_summary": segment_rows}


def reconcile(
    silver: Mapping[str, Sequence[Row]], gold: Mapping[str, Sequence[Row]]
) -> list[tuple[str, bool, str]]:
    order_cents = sum(
        round(o["amount"] * 100) for o in silver["orders"] if o["status"] == "completed"
    )
    ltv_cents = sum(round(r["lifetime_value"] * 100) for r in gold["customer_ltv"])
    seg_cents = sum(round(r["total_value"] * 100) for r in gold["segment_summary"])
    seg_customers = sum(r["customers"] for r in gold["segment_summary"])
    return [
        (
            "ltv_equals_completed_orders",
            ltv_cents == order_cents,
            f"sum(lifetime_value)={ltv_cents / 100:.2f}, completed orders={order_cents / 100:.2f}",
        ),
        (
            "segments_cover_all_value",
            seg_cents == ltv_cents,
            f"sum(segment total_value)={seg_cents / 100:.2f}",
        ),
        (
            "segments_cover_all_customers",
            seg_customers == len(silver["customers"]),
            f"{seg_customers} in segments, {len(silver['customers'])} silver customers",
        ),
    ]


PRODUCT = Product(
    name=NAME,
    namespace="customer_360",
    description="Retail: customers and orders; lifetime value and segments.",
    sources=(CUSTOMERS, ORDERS),
    gold=(
        GoldTable(
            "customer_ltv",
            key=("customer_id",),
            columns=(
                Column("customer_id", "str"),
                Column("name", "str"),
                Column("region", "str", allowed=REGIONS),
                Column("completed_orders", "int", minimum=0),
                Column("lifetime_value", "float", minimum=0),
                Column("segment", "str", allowed=frozenset({"vip", "loyal", "regular", "dormant"})),
            ),
            chart=Chart("customer_id", "lifetime_value", title="Top customers by lifetime value"),
        ),
        GoldTable(
            "segment_summary",
            key=("segment",),
            columns=(
                Column("segment", "str"),
                Column("customers", "int", minimum=1),
                Column("total_value", "float", minimum=0),
                Column("average_value", "float", minimum=0),
            ),
            chart=Chart("segment", "total_value", title="Lifetime value by segment"),
        ),
    ),
    generate=generate,
    build_gold=build_gold,
    reconcile=reconcile,
    latest_revision=2,
)
