"""The registry of data products, by CLI name."""

from __future__ import annotations

from demo.errors import DemoError
from demo.model import Product
from demo.products import customer_360, financial_risk, iot_telemetry

PRODUCTS: dict[str, Product] = {
    p.name: p for p in (customer_360.PRODUCT, iot_telemetry.PRODUCT, financial_risk.PRODUCT)
}


def get_product(name: str) -> Product:
    try:
        return PRODUCTS[name]
    except KeyError:
        raise DemoError(
            f"unknown product {name!r}; choose one of {', '.join(sorted(PRODUCTS))}"
        ) from None
