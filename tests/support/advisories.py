"""A planted OSV advisory snapshot, for machines without a real one and for age tests."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import yaml

PLANTED_ID = "PLANTED-2018-0001"


def plant_snapshot(root: Path, *, dated: dt.datetime | None = None) -> Path:
    """A one-record OSV snapshot (requests < 2.20.0 vulnerable), in the PyPA layout,
    its SNAPSHOT_DATE in git's format as in the real one (default: now).

    Used where no real snapshot is at hand (a contributor's laptop without ../shared):
    the same real pip-audit and loopback server then run against planted data.
    """
    record = {
        "id": PLANTED_ID,
        "details": "Planted by the test suite: requests before 2.20.0 is vulnerable.",
        "affected": [
            {
                "package": {"name": "requests", "ecosystem": "PyPI"},
                "ranges": [
                    {"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "2.20.0"}]}
                ],
            }
        ],
    }
    (root / "vulns" / "requests").mkdir(parents=True)
    (root / "vulns" / "requests" / f"{PLANTED_ID}.yaml").write_text(yaml.safe_dump(record))
    when = dated or dt.datetime.now(dt.UTC)
    (root / "SNAPSHOT_DATE").write_text(f"{when:%a %b %d %H:%M:%S %Y %z}\n")
    return root
