"""What an offline advisory snapshot vouches for: its age fails the scan past the limit,
and pins released after it are listed as not covered.

The audits here run the real pip-audit against planted one-record snapshots whose
SNAPSHOT_DATE is set relative to now, so the age is what each test says it is.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from testing import pins
from testing.security import pip_audit_scan, snapshot_coverage
from testing.security.report import ScanError
from tests.support.advisories import plant_snapshot

REQUESTS_CLEAN = (
    "requests==2.34.2 "
    "--hash=sha256:2a0d60c172f83ac6ab31e4554906c0f3b3588d37b5cb939b1c061f4907e278e0\n"
)
REQUESTS = ("requests", "2.34.2")
NOW = dt.datetime.now(dt.UTC)


def _audit_against(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *, age_days: int, released: dt.datetime
) -> pip_audit_scan.ScanResult:
    snapshot = plant_snapshot(tmp_path / "snapshot", dated=NOW - dt.timedelta(days=age_days))
    monkeypatch.setenv(pip_audit_scan.ADVISORY_DB_ENV, str(snapshot))
    requirements = tmp_path / "requirements.txt"
    requirements.write_text(REQUESTS_CLEAN)
    return pip_audit_scan.audit(requirements, tmp_path / "reports", released={REQUESTS: released})


@pytest.mark.requirement("SEC-005")
def test_a_snapshot_past_the_age_limit_fails_the_scan(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(snapshot_coverage.MAX_AGE_ENV, raising=False)
    old = _audit_against(tmp_path, monkeypatch, age_days=91, released=NOW - dt.timedelta(days=400))
    assert [f.rule for f in old.findings] == ["advisory-snapshot-stale"]
    assert "91 days old, over the 90-day limit (SECURITY_ADVISORY_MAX_AGE_DAYS)" in (
        old.findings[0].message
    )
    assert old.findings[0].path.endswith("SNAPSHOT_DATE")
    assert old.failed
    assert any(n.startswith("snapshot age: 91 days") for n in old.notes)


@pytest.mark.requirement("SEC-005")
def test_a_snapshot_within_the_limit_passes_and_says_its_age(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(snapshot_coverage.MAX_AGE_ENV, raising=False)
    fresh = _audit_against(
        tmp_path, monkeypatch, age_days=89, released=NOW - dt.timedelta(days=400)
    )
    assert fresh.findings == []
    assert "snapshot age: 89 days" in "\n".join(fresh.notes)
    assert "coverage: all 1 pins were released before the snapshot" in fresh.notes
    assert "not covered" not in fresh.summary()


@pytest.mark.requirement("SEC-005")
def test_the_limit_is_the_environments(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(snapshot_coverage.MAX_AGE_ENV, "120")
    result = _audit_against(
        tmp_path, monkeypatch, age_days=100, released=NOW - dt.timedelta(days=400)
    )
    assert result.findings == []
    assert "the scan fails past 120 days" in "\n".join(result.notes)


@pytest.mark.requirement("SEC-005")
def test_a_pin_released_after_the_snapshot_is_listed_not_covered_never_clean(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(snapshot_coverage.MAX_AGE_ENV, raising=False)
    newer = NOW - dt.timedelta(days=3)
    result = _audit_against(tmp_path, monkeypatch, age_days=10, released=newer)
    assert result.findings == []  # within the limit: listed, not failed
    assert result.summary().endswith("(1 of them not covered by it)")
    listed = next(n for n in result.notes if n.startswith("not covered:"))
    assert f"requests==2.34.2 ({newer:%Y-%m-%d})" in listed
    assert "1 of 1 pins were released after the snapshot" in listed


@pytest.mark.requirement("SEC-005")
def test_a_pin_without_a_known_release_date_is_not_covered() -> None:
    snapshot = NOW - dt.timedelta(days=5)
    older = ("old", "1.0")
    coverage = snapshot_coverage.assess(
        snapshot,
        [older, ("unknown", "2.0")],
        {older: snapshot - dt.timedelta(days=1)},
        now=NOW,
        limit_days=90,
    )
    assert coverage.not_covered == ((("unknown", "2.0"), None),)
    assert "unknown==2.0 (release date unknown)" in coverage.coverage_note(2)
    assert (coverage.age_days, coverage.stale) == (5, False)


def test_an_age_limit_that_is_no_number_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(snapshot_coverage.MAX_AGE_ENV, "ninety")
    with pytest.raises(ScanError) as caught:
        snapshot_coverage.max_age_days()
    message = str(caught.value)
    assert message.startswith("SECURITY_ADVISORY_MAX_AGE_DAYS='ninety' is not a whole number")
    assert "\n" not in message


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Thu Jul 23 14:42:31 2026 +0000", dt.datetime(2026, 7, 23, 14, 42, 31, tzinfo=dt.UTC)),
        ("2026-07-23", dt.datetime(2026, 7, 23, tzinfo=dt.UTC)),
        ("2026-07-23T16:42:31+02:00", dt.datetime(2026, 7, 23, 14, 42, 31, tzinfo=dt.UTC)),
    ],
)
def test_snapshot_dates_in_gits_format_and_iso(text: str, expected: dt.datetime) -> None:
    assert snapshot_coverage.snapshot_time(text, Path("SNAPSHOT_DATE")) == expected


def test_a_snapshot_date_that_is_no_date_is_one_line() -> None:
    with pytest.raises(ScanError, match=r"^SNAPSHOT_DATE says 'yesterday', which is no date"):
        snapshot_coverage.snapshot_time("yesterday", Path("SNAPSHOT_DATE"))


def test_a_versions_release_is_its_earliest_file(tmp_path: Path) -> None:
    lock = tmp_path / "uv.lock"
    lock.write_text(
        "version = 1\n"
        '[[package]]\nname = "Demo_Pkg"\nversion = "1.0"\n'
        'sdist = { url = "u", upload-time = "2026-03-02T10:00:00Z" }\n'
        'wheels = [{ url = "w1", upload-time = "2026-03-01T09:30:00.5Z" },'
        ' { url = "w2", upload-time = "2026-03-05T00:00:00Z" }]\n'
        '[[package]]\nname = "local"\nversion = "0.1"\nsource = { editable = "." }\n'
    )
    assert snapshot_coverage.release_times(lock) == {
        ("demo-pkg", "1.0"): dt.datetime(2026, 3, 1, 9, 30, 0, 500000, tzinfo=dt.UTC)
    }


def test_every_pin_the_scan_audits_has_a_release_date_in_the_lock(tmp_path: Path) -> None:
    exported = pip_audit_scan.export_locked(pins.REPO_ROOT, tmp_path / "req.txt")
    audited = {p.key for p in pip_audit_scan.locked_pins(exported)}
    released = snapshot_coverage.release_times(pins.REPO_ROOT / "uv.lock")
    assert audited - released.keys() == set()
