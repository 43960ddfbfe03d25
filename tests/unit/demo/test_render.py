"""The dashboard's HTML: numbers in data-* attributes, bars scaled to the largest, text escaped."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from demo.dashboard.render import BAR_COLOUR, age, chart_svg, page
from demo.status import ChartData, ProductStatus, QualityStatus, TableStatus

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


def test_bars_scale_to_the_largest_value_and_labels_are_escaped() -> None:
    svg = chart_svg(ChartData("ns.gold_x", "T", "k", "v", [("<a>", 200.0), ("b", 50.0)]), width=460)
    # 460 wide minus 110 for labels and 90 for values leaves 260 for the longest bar.
    assert 'width="260.0"' in svg
    assert 'width="65.0"' in svg
    assert "&lt;a&gt;" in svg
    assert "<a>" not in svg
    assert svg.count(f'fill="{BAR_COLOUR}"') == 2


def test_page_carries_catalog_numbers_and_quality() -> None:
    status = ProductStatus(
        "p-1",
        "p_1",
        "desc",
        tables=[TableStatus("p_1.silver_t", "silver", 1234, 99, 3, NOW - timedelta(minutes=5))],
        quality=QualityStatus("run", NOW, 10, 2, ["silver.t unique(id): 1 duplicate keys"]),
    )
    html = page([status], now=NOW)
    assert '<td class="num rows" data-rows="1234">1,234</td>' in html
    assert 'data-snapshot="99"' in html
    assert 'data-quality="failed" data-failed="2"' in html
    assert "<li>silver.t unique(id): 1 duplicate keys</li>" in html
    assert "5 min ago" in html


def test_age_units() -> None:
    assert age(None, NOW) == "never"
    assert age(NOW - timedelta(seconds=5), NOW) == "5 s ago"
    assert age(NOW - timedelta(hours=3), NOW) == "3 h ago"
    assert age(NOW - timedelta(days=2), NOW) == "2 d ago"
