"""HTML for the dashboard, built from ``demo.status``.

Everything is inline (CSS, SVG), so the page works on a machine with no internet and
the test can read every number from the DOM: each value also sits in a ``data-*``
attribute, unformatted.
"""

from __future__ import annotations

from datetime import UTC, datetime
from html import escape

from demo.status import ChartData, ProductStatus, TableStatus

BAR_COLOUR = "#2563eb"
OK_COLOUR = "#16a34a"
FAIL_COLOUR = "#dc2626"

STYLE = f"""
body {{ font-family: system-ui, sans-serif; margin: 24px; background: #f8fafc; color: #0f172a; }}
h1 {{ margin: 0 0 4px; }}
section.product {{ background: #fff; border: 1px solid #e2e8f0; border-radius: 8px;
  padding: 16px 20px; margin: 16px 0; }}
table {{ border-collapse: collapse; font-size: 14px; margin: 8px 0; }}
th, td {{ text-align: left; padding: 3px 12px 3px 0; border-bottom: 1px solid #e2e8f0; }}
td.num {{ text-align: right; font-variant-numeric: tabular-nums; }}
.badge {{ color: #fff; border-radius: 4px; padding: 2px 8px; font-size: 13px; }}
.pass {{ background: {OK_COLOUR}; }} .fail {{ background: {FAIL_COLOUR}; }}
.charts {{ display: flex; flex-wrap: wrap; gap: 24px; }}
.muted {{ color: #64748b; font-size: 13px; }}
"""


def age(then: datetime | None, now: datetime) -> str:
    if then is None:
        return "never"
    seconds = max(0, int((now - then).total_seconds()))
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds // size} {unit} ago"
    return f"{seconds} s ago"


def _table_row(t: TableStatus, now: datetime) -> str:
    updated = t.updated_at.isoformat() if t.updated_at else ""
    return (
        f'<tr data-table="{escape(t.identifier)}">'
        f"<td>{escape(t.identifier)}</td><td>{escape(t.layer)}</td>"
        f'<td class="num rows" data-rows="{t.rows}">{t.rows:,}</td>'
        f'<td class="num snapshot" data-snapshot="{t.snapshot_id or ""}">'
        f"{t.snapshot_id or '-'}</td>"
        f'<td class="num snapshots" data-snapshots="{t.snapshots}">{t.snapshots}</td>'
        f'<td class="updated" data-updated="{escape(updated)}">{age(t.updated_at, now)}</td></tr>'
    )


def _fmt(value: float) -> str:
    return f"{value:,.0f}" if value.is_integer() else f"{value:,.2f}"


def chart_svg(chart: ChartData, width: int = 460, bar: int = 18) -> str:
    """A horizontal bar chart: label on the left, bar scaled to the largest value."""
    label_w, value_w = 110, 90
    top = max((v for _, v in chart.bars), default=0.0) or 1.0
    height = max(1, len(chart.bars)) * (bar + 6) + 8
    room = width - label_w - value_w
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'role="img" aria-label="{escape(chart.title)}" data-chart="{escape(chart.table)}">'
    ]
    for i, (label, value) in enumerate(chart.bars):
        y = 4 + i * (bar + 6)
        w = max(1.0, room * value / top) if value > 0 else 0.0
        parts.append(
            f'<g data-label="{escape(label)}" data-value="{value}">'
            f'<text x="0" y="{y + bar - 5}" font-size="12">{escape(label)}</text>'
            f'<rect x="{label_w}" y="{y}" width="{w:.1f}" height="{bar}" fill="{BAR_COLOUR}"/>'
            f'<text x="{label_w + w + 6:.1f}" y="{y + bar - 5}" font-size="12">{_fmt(value)}</text>'
            "</g>"
        )
    parts.append("</svg>")
    return "".join(parts)


def _product(p: ProductStatus, now: datetime) -> str:
    if p.quality is None:
        badge = '<span class="badge fail" data-quality="none">no quality result</span>'
    elif p.quality.failed:
        badge = (
            f'<span class="badge fail" data-quality="failed" data-failed="{p.quality.failed}">'
            f"{p.quality.failed} checks failed</span>"
        )
    else:
        badge = (
            f'<span class="badge pass" data-quality="passed" data-passed="{p.quality.passed}">'
            f"{p.quality.passed} checks passed</span>"
        )
    failures = "".join(f"<li>{escape(f)}</li>" for f in (p.quality.failures if p.quality else []))
    rows = "".join(_table_row(t, now) for t in p.tables)
    charts = "".join(
        f'<figure><figcaption>{escape(c.title)} <span class="muted">({escape(c.table)})</span>'
        f"</figcaption>{chart_svg(c)}</figure>"
        for c in p.charts
    )
    updated = p.updated_at.isoformat() if p.updated_at else ""
    return (
        f'<section class="product" data-product="{escape(p.name)}">'
        f"<h2>{escape(p.name)} {badge}</h2>"
        f'<p class="muted">{escape(p.description)} Namespace <code>{escape(p.namespace)}</code>; '
        f'updated <span class="freshness" data-updated="{escape(updated)}">'
        f"{age(p.updated_at, now)}</span>.</p>"
        f'<ul class="failures">{failures}</ul>'
        "<table><thead><tr><th>table</th><th>layer</th><th>rows</th><th>snapshot</th>"
        f"<th>snapshots</th><th>updated</th></tr></thead><tbody>{rows}</tbody></table>"
        f'<div class="charts">{charts}</div></section>'
    )


def page(statuses: list[ProductStatus], now: datetime | None = None) -> str:
    now = now or datetime.now(UTC)
    body = "".join(_product(p, now) for p in statuses)
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        "<title>Demo data products</title>"
        f"<style>{STYLE}</style></head><body>"
        "<h1>Demo data products</h1>"
        '<p class="muted">Apache Iceberg tables, bronze to gold. '
        f"Rendered {now:%Y-%m-%d %H:%M:%S} UTC.</p>"
        f"{body}</body></html>"
    )


def error_page(message: str) -> str:
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8><title>Demo: unavailable</title>"
        "</head><body><h1>Catalog unavailable</h1>"
        f"<p data-error>{escape(message)}</p></body></html>"
    )
