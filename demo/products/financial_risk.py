"""financial-risk (finance): instruments, prices and positions -> exposure and risk per portfolio.

Exposure is quantity x latest close in integer cents; the risk score is the exposure-
weighted volatility (in basis points) scaled to 0..100. A position whose instrument
has no valid price counts with zero exposure.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, timedelta

from demo.model import Chart, Column, GoldTable, Product, Reference, Row, SeedData, TableSpec
from demo.seed import Defect, duplicates_in, money, plant, rng_for

NAME = "financial-risk"
ASSET_CLASSES = frozenset({"equity", "bond", "fx", "commodity"})
BANDS = frozenset({"low", "medium", "high"})
BASE_DATE = date(2026, 1, 1)

INSTRUMENTS = TableSpec(
    name="instruments",
    columns=(
        Column("instrument_id", "str"),
        Column("asset_class", "str", allowed=ASSET_CLASSES),
        Column("volatility", "float", minimum=0, maximum=2),
    ),
    key=("instrument_id",),
)
PRICES = TableSpec(
    name="prices",
    columns=(
        Column("price_id", "str"),
        Column("instrument_id", "str"),
        Column("price_date", "date"),
        Column("close", "float", minimum=0.01, maximum=1_000_000),
    ),
    key=("price_id",),
    references=(Reference("instrument_id", "instruments", "instrument_id"),),
)
POSITIONS = TableSpec(
    name="positions",
    columns=(
        Column("position_id", "str"),
        Column("portfolio_id", "str"),
        Column("instrument_id", "str"),
        Column("quantity", "int", minimum=-1_000_000, maximum=1_000_000),
    ),
    key=("position_id",),
    references=(Reference("instrument_id", "instruments", "instrument_id"),),
)
INSTRUMENT_DEFECTS = (
    Defect("null", "asset_class"),
    Defect("out_of_range", "volatility", "7.5"),
    Defect("duplicate"),
)
PRICE_DEFECTS = (
    Defect("out_of_range", "close", "-1.00"),
    Defect("unparseable", "price_date", "31/02/2026"),
    Defect("orphan", "instrument_id", "I99999"),
    Defect("duplicate"),
    Defect("null", "close"),
)
POSITION_DEFECTS = (
    Defect("null", "portfolio_id"),
    Defect("orphan", "instrument_id", "I88888"),
    Defect("unparseable", "quantity", "1e3x"),
    Defect("out_of_range", "quantity", "5000000"),
    Defect("duplicate"),
)


def instrument_count(scale: int) -> int:
    return max(30, scale // 20)


def portfolio_count(scale: int) -> int:
    return max(5, scale // 100)


def generate(scale: int, seed: int, revision: int) -> SeedData:
    del revision
    rng = rng_for(NAME, seed)
    n_instr = instrument_count(scale)
    classes = sorted(ASSET_CLASSES)
    base_vol = {"equity": 0.30, "bond": 0.06, "fx": 0.10, "commodity": 0.45}
    clean_instr = []
    for i in range(n_instr - duplicates_in(INSTRUMENT_DEFECTS, n_instr)):
        asset_class = rng.choice(classes)
        vol = base_vol[asset_class] * rng.uniform(0.5, 1.8)
        clean_instr.append(
            {"instrument_id": f"I{i:05d}", "asset_class": asset_class, "volatility": f"{vol:.4f}"}
        )
    instruments, planted, untouched = plant(
        INSTRUMENTS, clean_instr, INSTRUMENT_DEFECTS, n_instr, rng
    )
    ids = [clean_instr[i]["instrument_id"] for i in untouched]
    level = {iid: rng.uniform(5, 500) for iid in ids}
    clean_prices = []
    for i in range(scale - duplicates_in(PRICE_DEFECTS, scale)):
        iid = ids[i % len(ids)]
        level[iid] *= rng.uniform(0.97, 1.03)
        clean_prices.append(
            {
                "price_id": f"PX{i:08d}",
                "instrument_id": iid,
                "price_date": (BASE_DATE + timedelta(days=i // len(ids))).isoformat(),
                "close": money(level[iid]),
            }
        )
    prices, price_planted, _ = plant(PRICES, clean_prices, PRICE_DEFECTS, scale, rng)
    portfolios = [f"P{i:04d}" for i in range(portfolio_count(scale))]
    clean_positions = [
        {
            "position_id": f"POS{i:08d}",
            "portfolio_id": rng.choice(portfolios),
            "instrument_id": rng.choice(ids),
            "quantity": str(rng.choice((-1, 1, 1, 1)) * rng.randint(1, 5000)),
        }
        for i in range(scale - duplicates_in(POSITION_DEFECTS, scale))
    ]
    positions, position_planted, _ = plant(POSITIONS, clean_positions, POSITION_DEFECTS, scale, rng)
    return SeedData(
        {"instruments": instruments, "prices": prices, "positions": positions},
        planted + price_planted + position_planted,
    )


def latest_close_cents(prices: Sequence[Row]) -> dict[str, int]:
    """The close of each instrument's latest price date (ties: the highest price_id)."""
    best: dict[str, tuple[date, str, int]] = {}
    for price in prices:
        candidate = (price["price_date"], price["price_id"], round(price["close"] * 100))
        current = best.get(price["instrument_id"])
        if current is None or candidate[:2] > current[:2]:
            best[price["instrument_id"]] = candidate
    return {iid: value[2] for iid, value in best.items()}


def risk_band(score: float) -> str:
    if score >= 40:
        return "high"
    if score >= 20:
        return "medium"
    return "low"


def build_gold(silver: Mapping[str, Sequence[Row]]) -> dict[str, list[Row]]:
    close = latest_close_cents(silver["prices"])
    instruments = {i["instrument_id"]: i for i in silver["instruments"]}
    per_portfolio: dict[str, list[int]] = {}  # positions, gross, net, sum(|exp| * vol_bp)
    per_class: dict[str, list[int]] = {}
    for position in silver["positions"]:
        instrument = instruments[position["instrument_id"]]
        exposure = position["quantity"] * close.get(position["instrument_id"], 0)
        vol_bp = round(instrument["volatility"] * 10_000)
        acc = per_portfolio.setdefault(position["portfolio_id"], [0, 0, 0, 0])
        acc[0] += 1
        acc[1] += abs(exposure)
        acc[2] += exposure
        acc[3] += abs(exposure) * vol_bp
        cls = per_class.setdefault(instrument["asset_class"], [0, 0])
        cls[0] += 1
        cls[1] += abs(exposure)
    portfolios: list[Row] = []
    for pid, (count, gross, net, weighted) in sorted(per_portfolio.items()):
        score = min(100.0, round(100 * weighted / (gross * 10_000), 2)) if gross else 0.0
        portfolios.append(
            {
                "portfolio_id": pid,
                "positions": count,
                "gross_exposure": gross / 100,
                "net_exposure": net / 100,
                "risk_score": score,
                "risk_band": risk_band(score),
            }
        )
    classes: list[Row] = [
        {"asset_class": name, "positions": count, "gross_exposure": gross / 100}
        for name, (count, gross) in sorted(per_class.items())
    ]
    return {"portfolio_risk": portfolios, "exposure_by_asset_class": classes}


def reconcile(
    silver: Mapping[str, Sequence[Row]], gold: Mapping[str, Sequence[Row]]
) -> list[tuple[str, bool, str]]:
    positions = sum(r["positions"] for r in gold["portfolio_risk"])
    gross = sum(round(r["gross_exposure"] * 100) for r in gold["portfolio_risk"])
    by_class = sum(round(r["gross_exposure"] * 100) for r in gold["exposure_by_asset_class"])
    return [
        (
            "positions_accounted",
            positions == len(silver["positions"]),
            f"{positions} in gold, {len(silver['positions'])} silver positions",
        ),
        (
            "exposure_by_class_matches_portfolios",
            gross == by_class,
            f"portfolios {gross / 100:.2f}, asset classes {by_class / 100:.2f}",
        ),
    ]


PRODUCT = Product(
    name=NAME,
    namespace="financial_risk",
    description="Finance: positions and prices; exposure and risk score per portfolio.",
    sources=(INSTRUMENTS, PRICES, POSITIONS),
    gold=(
        GoldTable(
            "portfolio_risk",
            key=("portfolio_id",),
            columns=(
                Column("portfolio_id", "str"),
                Column("positions", "int", minimum=1),
                Column("gross_exposure", "float", minimum=0),
                Column("net_exposure", "float"),
                Column("risk_score", "float", minimum=0, maximum=100),
                Column("risk_band", "str", allowed=BANDS),
            ),
            chart=Chart("portfolio_id", "gross_exposure", title="Gross exposure per portfolio"),
        ),
        GoldTable(
            "exposure_by_asset_class",
            key=("asset_class",),
            columns=(
                Column("asset_class", "str", allowed=ASSET_CLASSES),
                Column("positions", "int", minimum=1),
                Column("gross_exposure", "float", minimum=0),
            ),
            chart=Chart("asset_class", "gross_exposure", title="Gross exposure by asset class"),
        ),
    ),
    generate=generate,
    build_gold=build_gold,
    reconcile=reconcile,
)
