"""Check the demo dashboard the way a person sees it: a real headless browser.

Playwright drives the browser that ``TEST_BROWSER`` names (a command on PATH or a
path): Debian's ``chromium`` here, Google Chrome on GitHub's runners, where
``chromium-browser`` is only a snap stub. Playwright never downloads a browser for
this project. The page is read once its content is there (a selector, not a fixed
wait), and its screenshot is read with Pillow. Shared by tests/integration/demo and
tests/e2e.
"""

from __future__ import annotations

import os
import shutil
from collections import Counter
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

from PIL import Image
from playwright.sync_api import sync_playwright
from pyiceberg.catalog.sql import SqlCatalog

#: The dashboard's bar colour (demo.dashboard.render.BAR_COLOUR), as RGB.
BAR_RGB = (0x25, 0x63, 0xEB)
PASS_RGB = (0x16, 0xA3, 0x4A)
BROWSER_ENV = "TEST_BROWSER"
#: Tried in this order when TEST_BROWSER is unset (never the snap stub chromium-browser).
BROWSERS = ("chromium", "google-chrome", "google-chrome-stable")
PAGE_TIMEOUT_MS = 60_000
#: Every product section carries data-product; the page is complete when they are there.
CONTENT_SELECTOR = "[data-product]"


def browser() -> str:
    """The browser executable: ``$TEST_BROWSER`` (command or path), else the first found."""
    named = os.environ.get(BROWSER_ENV)
    for name in (named,) if named else BROWSERS:
        found = shutil.which(name)
        if found:
            return found
    wanted = f"{BROWSER_ENV}={named}" if named else f"one of {', '.join(BROWSERS)}"
    raise AssertionError(
        f"no browser: {wanted} is not on PATH (Debian: apt-get install chromium; "
        f"or set {BROWSER_ENV} to Chrome's path)"
    )


@dataclass(frozen=True)
class Page:
    html: str
    screenshot: Path


def load(url: str, screenshot: Path, width: int = 1400, height: int = 3000) -> Page:
    """The page's DOM once its content is there, and a screenshot of the viewport."""
    with sync_playwright() as driver:
        chrome = driver.chromium.launch(
            executable_path=browser(),
            headless=True,
            args=["--no-sandbox", "--disable-gpu", "--hide-scrollbars"],
        )
        try:
            page = chrome.new_page(viewport={"width": width, "height": height})
            response = page.goto(url, wait_until="load", timeout=PAGE_TIMEOUT_MS)
            assert response is not None, f"GET {url}: no response"
            assert response.status == 200, f"GET {url} answered {response.status}"
            page.wait_for_selector(CONTENT_SELECTOR, timeout=PAGE_TIMEOUT_MS)
            html = page.content()
            page.screenshot(path=str(screenshot))
        finally:
            chrome.close()
    return Page(html, screenshot)


def colours(png: Path) -> tuple[tuple[int, int], Counter[tuple[int, int, int]]]:
    """The image's size and how many pixels have each RGB colour."""
    with Image.open(png) as image:
        rgb = image.convert("RGB")
        counts = rgb.getcolors(maxcolors=rgb.width * rgb.height) or []
        return rgb.size, Counter({colour: n for n, colour in counts})


class DashboardDom(HTMLParser):
    """Collects the data-* attributes the dashboard puts on its tables, charts and badges."""

    def __init__(self) -> None:
        super().__init__()
        self.products: list[str] = []
        self.quality: dict[str, str] = {}
        self.tables: dict[str, dict[str, str]] = {}
        self.charts: dict[str, list[tuple[str, float]]] = {}
        self._product = ""
        self._table = ""
        self._chart = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if "data-product" in a:
            self._product = a["data-product"]
            self.products.append(self._product)
        if "data-quality" in a:
            self.quality[self._product] = a["data-quality"]
        if tag == "tr" and "data-table" in a:
            self._table = a["data-table"]
            self.tables[self._table] = {}
        for field in ("rows", "snapshot", "snapshots"):
            if f"data-{field}" in a and self._table:
                self.tables[self._table][field] = a[f"data-{field}"]
        if tag == "svg" and "data-chart" in a:
            self._chart = a["data-chart"]
            self.charts[self._chart] = []
        if tag == "g" and "data-label" in a and self._chart:
            self.charts[self._chart].append((a["data-label"], float(a["data-value"])))


def parse_dashboard(html: str) -> DashboardDom:
    dom = DashboardDom()
    dom.feed(html)
    return dom


def assert_dashboard_matches_catalog(
    url: str, cat: SqlCatalog, namespaces: dict[str, str], out: Path
) -> None:
    """The DOM shows the catalog's own numbers; the screenshot is a real, drawn page."""
    page = load(url, out)
    dom = parse_dashboard(page.html)
    assert sorted(dom.products) == sorted(namespaces)
    expected_tables: dict[str, Any] = {}
    for ns in namespaces.values():
        for ident in cat.list_tables(ns):
            table = cat.load_table(ident)
            snap = table.current_snapshot()
            assert snap is not None
            expected_tables[".".join(ident)] = {
                "rows": str(table.scan().to_arrow().num_rows),
                "snapshot": str(snap.snapshot_id),
                "snapshots": str(len(table.metadata.snapshots)),
            }
    assert dom.tables == expected_tables
    assert set(dom.quality.values()) == {"passed"}, dom.quality
    gold = {i for i in expected_tables if i.split(".", 1)[1].startswith("gold_")}
    assert set(dom.charts) == gold
    for ident, bars in dom.charts.items():
        assert bars, f"{ident}: the chart has no bars"
        values = [v for _, v in bars]
        assert values == sorted(values, reverse=True)
        labels = dict(bars)
        rows = cat.load_table(ident).scan().to_arrow().to_pylist()
        first_col = next(iter(rows[0]))
        by_label = {str(r[first_col]): r for r in rows}
        for label, value in labels.items():
            assert label in by_label, f"{ident}: bar {label!r} is not a row of the table"
            assert value in by_label[label].values(), f"{ident}: bar {label}={value} not in its row"
    (width, height), counts = colours(page.screenshot)
    assert (width, height) == (1400, 3000)
    assert len(counts) > 50, "the page is (nearly) blank"
    bar_pixels = sum(
        n
        for rgb, n in counts.items()
        if max(abs(x - y) for x, y in zip(rgb, BAR_RGB, strict=True)) <= 8
    )
    assert bar_pixels > 400 * len(gold), (
        f"only {bar_pixels} pixels of the bar colour for {len(gold)} charts"
    )
    assert any(max(abs(x - y) for x, y in zip(rgb, PASS_RGB, strict=True)) <= 8 for rgb in counts)


def settings_env(settings: Any) -> dict[str, str]:
    """The environment a ``python -m demo`` process needs to reach the same catalog and bucket."""
    env = {
        "ICEBERG_CATALOG_URL": settings.catalog_url.get_secret_value(),
        "DEMO_WAREHOUSE": settings.warehouse,
        "AWS_REGION": settings.s3_region,
        "DEMO_NAMESPACE_SUFFIX": settings.namespace_suffix,
    }
    if settings.s3_endpoint:
        env["S3_ENDPOINT_URL"] = settings.s3_endpoint
    if settings.s3_access_key and settings.s3_secret_key:
        env["AWS_ACCESS_KEY_ID"] = settings.s3_access_key.get_secret_value()
        env["AWS_SECRET_ACCESS_KEY"] = settings.s3_secret_key.get_secret_value()
    return env
