"""Check the demo dashboard the way a person sees it: real headless Chromium.

``dump_dom`` and ``screenshot`` run Debian's ``chromium`` with a fresh profile and
no network features; ``decode_png`` is a small PNG reader (8-bit RGB/RGBA, the
format Chromium writes) so the screenshot's pixels can be counted without an
imaging library. Shared by tests/integration/demo and tests/e2e.
"""

from __future__ import annotations

import shutil
import struct
import subprocess
import tempfile
import zlib
from collections import Counter
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

from pyiceberg.catalog.sql import SqlCatalog

#: The dashboard's bar colour (demo.dashboard.render.BAR_COLOUR), as RGB.
BAR_RGB = (0x25, 0x63, 0xEB)
PASS_RGB = (0x16, 0xA3, 0x4A)
CHROMIUM_TIMEOUT = 90


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    assert found, "Debian's chromium is required: apt-get install -y chromium"
    return found


def _run_chromium(*args: str) -> subprocess.CompletedProcess[str]:
    with tempfile.TemporaryDirectory(prefix="chromium-profile-") as profile:
        argv = [
            chromium(),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--hide-scrollbars",
            f"--user-data-dir={profile}",
            *args,
        ]
        done = subprocess.run(
            argv, capture_output=True, text=True, timeout=CHROMIUM_TIMEOUT, check=False
        )
    assert done.returncode == 0, f"chromium failed ({done.returncode}): {done.stderr[-2000:]}"
    return done


def dump_dom(url: str) -> str:
    return _run_chromium("--dump-dom", url).stdout


def screenshot(url: str, path: Path, width: int = 1400, height: int = 3000) -> Path:
    _run_chromium(f"--screenshot={path}", f"--window-size={width},{height}", url)
    assert path.stat().st_size > 0
    return path


def decode_png(data: bytes) -> tuple[int, int, list[tuple[int, int, int]]]:
    """Width, height and RGB pixels of a non-interlaced 8-bit RGB or RGBA PNG."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, header = 8, b"", b""
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            header = body
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", header)
    assert depth == 8, f"unsupported PNG bit depth {depth}"
    assert colour in (2, 6), f"unsupported PNG colour type {colour}"
    assert interlace == 0, "interlaced PNG"
    bpp = 3 if colour == 2 else 4
    raw, stride = zlib.decompress(idat), width * bpp
    pixels: list[tuple[int, int, int]] = []
    prev = bytearray(stride)
    for y in range(height):
        start = y * (stride + 1)
        ftype, line = raw[start], bytearray(raw[start + 1 : start + 1 + stride])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b, c = prev[i], prev[i - bpp] if i >= bpp else 0
            if ftype == 1:
                line[i] = (line[i] + a) & 0xFF
            elif ftype == 2:
                line[i] = (line[i] + b) & 0xFF
            elif ftype == 3:
                line[i] = (line[i] + (a + b) // 2) & 0xFF
            elif ftype == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 0xFF
        pixels.extend(tuple(line[i : i + 3]) for i in range(0, stride, bpp))  # type: ignore[misc]
        prev = line
    return width, height, pixels


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
    dom = parse_dashboard(dump_dom(url))
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
    png = screenshot(url, out)
    width, height, pixels = decode_png(png.read_bytes())
    assert (width, height) == (1400, 3000)
    colours = Counter(pixels)
    assert len(colours) > 50, "the page is (nearly) blank"
    bar_pixels = sum(
        n
        for rgb, n in colours.items()
        if max(abs(x - y) for x, y in zip(rgb, BAR_RGB, strict=True)) <= 8
    )
    assert bar_pixels > 400 * len(gold), (
        f"only {bar_pixels} pixels of the bar colour for {len(gold)} charts"
    )
    assert any(max(abs(x - y) for x, y in zip(rgb, PASS_RGB, strict=True)) <= 8 for rgb in colours)


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
