"""Bronze: the rows exactly as ingested, every value a string, plus where each row came from."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from demo.model import RawRow, Row, TableSpec

META = ("_source_row", "_run_id", "_ingested_at")


def land(
    spec: TableSpec, rows: Sequence[RawRow], run_id: str, at: datetime, revision: int
) -> list[Row]:
    """Keep every raw value untouched; ``_source_row`` is the row's position in the feed."""
    names = [c.name for c in spec.columns_at(revision)]
    return [
        {**{n: raw.get(n) for n in names}, "_source_row": i, "_run_id": run_id, "_ingested_at": at}
        for i, raw in enumerate(rows)
    ]
