"""What an offline advisory snapshot can vouch for: its age, and the pins it predates.

A snapshot knows the advisories published up to its date. A pin released after that
date cannot have a record in it, so "no findings" says nothing about that pin: it is
*not covered*. And the older a snapshot is, the more advisories for old pins it lacks.

The rule (README, "Security"): the age and the not-covered pins are printed on every
run, and the summary never counts a not-covered pin as clean. The scan *fails* when
the snapshot is older than ``SECURITY_ADVISORY_MAX_AGE_DAYS`` (default 90 days).
Within that limit not-covered pins do not fail it, so that upgrading a dependency
does not have to wait for the next snapshot; the limit bounds how long they can go
unchecked.

Release dates come from ``uv.lock`` itself: uv records each file's ``upload-time``,
and a version's release date is its earliest file's, so nothing is fetched.
"""

from __future__ import annotations

import datetime as dt
import os
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from testing.security.osv_snapshot import normalise
from testing.security.report import Finding, ScanError

MAX_AGE_ENV = "SECURITY_ADVISORY_MAX_AGE_DAYS"
DEFAULT_MAX_AGE_DAYS = 90
#: ``git log``'s default date format, which the PyPA snapshot's SNAPSHOT_DATE uses.
_GIT_DATE = "%a %b %d %H:%M:%S %Y %z"

PinKey = tuple[str, str]


def max_age_days() -> int:
    raw = os.environ.get(MAX_AGE_ENV, "").strip()
    if not raw:
        return DEFAULT_MAX_AGE_DAYS
    if not raw.isdigit():
        raise ScanError(
            f"{MAX_AGE_ENV}={raw!r} is not a whole number of days: "
            f"unset it for the default {DEFAULT_MAX_AGE_DAYS}, or set e.g. {MAX_AGE_ENV}=180"
        )
    return int(raw)


def snapshot_time(text: str, source: Path) -> dt.datetime:
    """SNAPSHOT_DATE as an aware time: git's date format or ISO 8601 (a bare date is UTC)."""
    stamp = text.strip()
    for parse in (lambda s: dt.datetime.strptime(s, _GIT_DATE), dt.datetime.fromisoformat):
        try:
            parsed = parse(stamp)
        except ValueError:
            continue
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)
    raise ScanError(
        f"{source} says {stamp!r}, which is no date: write the snapshot's date there "
        "(e.g. `git -C <snapshot> log -1 --format=%cd > SNAPSHOT_DATE`)"
    )


def release_times(lock: Path) -> dict[PinKey, dt.datetime]:
    """Each locked (normalised name, version) with the upload time of its earliest file."""
    data = tomllib.loads(lock.read_text(encoding="utf-8"))
    released: dict[PinKey, dt.datetime] = {}
    for package in data.get("package", []):
        files = [package.get("sdist") or {}, *package.get("wheels", [])]
        stamps = [f["upload-time"] for f in files if "upload-time" in f]
        if stamps and "version" in package:
            earliest = min(dt.datetime.fromisoformat(s.replace("Z", "+00:00")) for s in stamps)
            released[(normalise(package["name"]), package["version"])] = earliest
    return released


@dataclass(frozen=True)
class Coverage:
    """How far one snapshot vouches for one set of pins, on one day."""

    snapshot: dt.datetime
    age_days: int
    limit_days: int
    #: Pins released after the snapshot, with their release time (None: unknown).
    not_covered: tuple[tuple[PinKey, dt.datetime | None], ...]

    @property
    def stale(self) -> bool:
        return self.age_days > self.limit_days

    def age_note(self) -> str:
        return (
            f"snapshot age: {self.age_days} days (SNAPSHOT_DATE {self.snapshot:%Y-%m-%d}); "
            f"the scan fails past {self.limit_days} days ({MAX_AGE_ENV})"
        )

    def coverage_note(self, total: int) -> str:
        if not self.not_covered:
            return f"coverage: all {total} pins were released before the snapshot"
        listed = ", ".join(
            f"{name}=={version} ({'release date unknown' if when is None else f'{when:%Y-%m-%d}'})"
            for (name, version), when in self.not_covered
        )
        return (
            f"not covered: {len(self.not_covered)} of {total} pins were released after the "
            f"snapshot, so it cannot vouch for them: {listed}"
        )

    def stale_finding(self, date_file: Path) -> Finding:
        return Finding(
            rule="advisory-snapshot-stale",
            message=(
                f"the advisory snapshot is {self.age_days} days old, over the "
                f"{self.limit_days}-day limit ({MAX_AGE_ENV}): it lacks every advisory "
                f"published since, and {len(self.not_covered)} pins are newer than it; "
                f"refresh it, or raise {MAX_AGE_ENV} knowingly"
            ),
            path=str(date_file),
        )


def assess(
    snapshot: dt.datetime,
    pins: Iterable[PinKey],
    released: Mapping[PinKey, dt.datetime],
    *,
    now: dt.datetime | None = None,
    limit_days: int | None = None,
) -> Coverage:
    """The snapshot's age on ``now`` (default: the current time) and the pins it predates."""
    current = now or dt.datetime.now(dt.UTC)
    not_covered = tuple(
        (key, released.get(key))
        for key in sorted(set(pins))
        if key not in released or released[key] > snapshot
    )
    return Coverage(
        snapshot=snapshot,
        age_days=(current - snapshot).days,
        limit_days=max_age_days() if limit_days is None else limit_days,
        not_covered=not_covered,
    )
