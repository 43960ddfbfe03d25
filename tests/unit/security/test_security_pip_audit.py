"""pip-audit against the real advisory snapshot through the loopback OSV server, and fail-closed.

These run the real pip-audit. The advisory data is the dated PyPA snapshot
(``SECURITY_ADVISORY_DB``, else ``../shared/advisory-database`` beside the
repository), because the live OSV API is unreachable on these machines; where
neither exists (a fresh laptop), a one-record snapshot planted by the test stands in.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import socket
import subprocess
import sys
import tomllib
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from packaging.version import Version

from testing import pins, tools
from testing.security import osv_snapshot, pip_audit_scan, snapshot_coverage
from testing.security.report import ScanError
from tests.support.advisories import PLANTED_ID, plant_snapshot

# Real wheel hashes from PyPI (with the OSV service pip-audit checks only that they exist).
REQUESTS_2_19_0 = (
    "requests==2.19.0 "
    "--hash=sha256:421cfc8d9dde7d6aff68196420afd86b88c65d77d8da9cf83f4ecad785d7b9d6\n"
)
# The version uv.lock pins (with its wheel hash): clean in the 2026-07-23 snapshot, and it
# must stay clean for `nox -s security` to pass, so it is the twin of the vulnerable pin.
REQUESTS_CLEAN_VERSION = "2.34.2"
REQUESTS_CLEAN = (
    f"requests=={REQUESTS_CLEAN_VERSION} "
    "--hash=sha256:2a0d60c172f83ac6ab31e4554906c0f3b3588d37b5cb939b1c061f4907e278e0\n"
)
#: Advisories for requests 2.19.0 that every real snapshot since 2024 carries.
KNOWN_REQUESTS_2_19_IDS = {"PYSEC-2018-28", "PYSEC-2023-74"}


def affected_ids(db: Path, package: str, version: str) -> set[str]:
    """Ids of the snapshot's records whose ECOSYSTEM ranges or version lists cover ``version``.

    Read straight from the YAML files, independently of pip-audit and the loopback server,
    so the expected set follows the snapshot in use instead of a list frozen on one date.
    """
    wanted = Version(version)
    found: set[str] = set()
    for path in sorted((db / "vulns" / package).glob("*.yaml")):
        record = yaml.safe_load(path.read_text(encoding="utf-8"))
        for affected in record.get("affected") or []:
            if version in (affected.get("versions") or []):
                found.add(record["id"])
            for span in affected.get("ranges") or []:
                if span.get("type") != "ECOSYSTEM":
                    continue
                start, end = Version("0"), None
                for event in span.get("events") or []:
                    if "introduced" in event:
                        start = Version(str(event["introduced"]))
                    elif "fixed" in event:
                        end = Version(str(event["fixed"]))
                        if start <= wanted < end:
                            found.add(record["id"])
                if end is None and start <= wanted:
                    found.add(record["id"])
    return found


@pytest.fixture(scope="module")
def advisory_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    explicit = os.environ.get(pip_audit_scan.ADVISORY_DB_ENV)
    path = Path(explicit) if explicit else pins.REPO_ROOT.parent / "shared" / "advisory-database"
    if explicit:
        assert (path / "SNAPSHOT_DATE").is_file(), (
            f"{pip_audit_scan.ADVISORY_DB_ENV}={explicit} is no advisory snapshot"
        )
    elif not (path / "SNAPSHOT_DATE").is_file():
        return plant_snapshot(tmp_path_factory.mktemp("advisories"))
    return path.resolve()


@pytest.fixture(scope="module")
def requests_2_19_ids(advisory_db: Path) -> set[str]:
    """The advisory ids the snapshot in use must report for requests 2.19.0."""
    planted = (advisory_db / "vulns" / "requests" / f"{PLANTED_ID}.yaml").is_file()
    ids = affected_ids(advisory_db, "requests", "2.19.0")
    assert planted or ids >= KNOWN_REQUESTS_2_19_IDS, f"snapshot lacks {KNOWN_REQUESTS_2_19_IDS}"
    return ids


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch, advisory_db: Path) -> Path:
    """The snapshot in use, whatever its age: these tests are about its advisories;
    what its age does is SEC-005's (tests/unit/security/test_security_snapshot_coverage.py)."""
    monkeypatch.setenv(pip_audit_scan.ADVISORY_DB_ENV, str(advisory_db))
    monkeypatch.setenv(snapshot_coverage.MAX_AGE_ENV, str(100 * 365))
    return advisory_db


def closed_port() -> int:
    """A loopback port nothing listens on: bound, then released."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@pytest.mark.requirement("SEC-002")
def test_vulnerable_pin_fails_and_fixed_twin_passes(
    tmp_path: Path, offline: Path, requests_2_19_ids: set[str]
) -> None:
    requirements = tmp_path / "requirements.txt"
    requirements.write_text(REQUESTS_2_19_0)
    released = {("requests", "2.19.0"): dt.datetime(2018, 6, 12, tzinfo=dt.UTC)}
    result = pip_audit_scan.audit(requirements, tmp_path / "reports", released=released)
    assert {f.rule for f in result.findings} == requests_2_19_ids
    assert any("requests==2.19.0 is vulnerable" in f.message for f in result.findings)
    date = (offline / "SNAPSHOT_DATE").read_text().strip()
    assert result.summary().endswith(f"against the OFFLINE advisory snapshot dated {date}")

    requirements.write_text(REQUESTS_CLEAN)
    clean = pip_audit_scan.audit(requirements, tmp_path / "reports")
    assert clean.findings == []
    assert clean.checked == 1


@pytest.mark.requirement("SEC-002")
def test_a_pin_for_another_platform_is_audited_too(
    tmp_path: Path, offline: Path, requests_2_19_ids: set[str]
) -> None:
    """A win32-only pin (as colorama and tzdata are in uv.lock) is audited on Linux too."""
    requirements = tmp_path / "requirements.txt"
    requirements.write_text(
        REQUESTS_2_19_0.replace("requests==2.19.0 ", "requests==2.19.0 ; sys_platform == 'win32' ")
    )
    result = pip_audit_scan.audit(requirements, tmp_path / "reports")
    assert {f.rule for f in result.findings} == requests_2_19_ids
    assert result.checked == 1

    requirements.write_text(
        REQUESTS_CLEAN.replace(
            f"requests=={REQUESTS_CLEAN_VERSION} ",
            f"requests=={REQUESTS_CLEAN_VERSION} ; sys_platform == 'win32' \\\n    ",
        )
    )
    clean = pip_audit_scan.audit(requirements, tmp_path / "reports")
    assert (clean.findings, clean.checked) == ([], 1)


def test_every_pin_of_the_lock_is_audited_whatever_its_marker(tmp_path: Path) -> None:
    exported = pip_audit_scan.export_locked(pins.REPO_ROOT, tmp_path / "req.txt")
    text = exported.read_text()
    # uv.lock has win32-only pins (colorama, tzdata): the case this guards.
    assert text.count("sys_platform == 'win32'") >= 2
    names = {p.name for p in pip_audit_scan.locked_pins(exported)}
    assert {"colorama", "tzdata"} <= names
    copy = pip_audit_scan.without_markers(exported, tmp_path / "every.txt").read_text()
    assert ";" not in copy
    assert copy.count("--hash=sha256:") == text.count("--hash=sha256:")


@pytest.mark.requirement("SEC-002")
def test_unreachable_service_fails_closed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(pip_audit_scan.ADVISORY_DB_ENV, raising=False)
    requirements = tmp_path / "requirements.txt"
    requirements.write_text(REQUESTS_CLEAN)
    url = f"http://127.0.0.1:{closed_port()}/v1/query"
    with pytest.raises(ScanError) as caught:
        pip_audit_scan.audit(requirements, tmp_path / "reports", osv_url=url)
    message = str(caught.value)
    assert message.startswith(f"pip-audit could not query the OSV service at {url}")
    assert "NOT checked" in message
    assert "SECURITY_ADVISORY_DB=../shared/advisory-database" in message
    assert "\n" not in message


def test_service_answering_errors_fails_closed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, snapshot_url: tuple[str, osv_snapshot.QueryLog]
) -> None:
    """A reachable endpoint that answers every lookup with an HTTP error checked nothing either."""
    monkeypatch.delenv(pip_audit_scan.ADVISORY_DB_ENV, raising=False)
    requirements = tmp_path / "requirements.txt"
    requirements.write_text(REQUESTS_CLEAN)
    wrong = snapshot_url[0].replace("/v1/query", "/v1/nothing")  # answers 404
    with pytest.raises(ScanError, match=r"^pip-audit could not query .* NOT checked"):
        pip_audit_scan.audit(requirements, tmp_path / "reports", osv_url=wrong)


def test_cli_fails_closed_with_one_line(tmp_path: Path) -> None:
    """The whole command, with the lock export: offline and no snapshot means exit 2, one line."""
    env = {k: v for k, v in os.environ.items() if k != pip_audit_scan.ADVISORY_DB_ENV}
    env[pip_audit_scan.OSV_URL_ENV] = f"http://127.0.0.1:{closed_port()}/v1/query"
    done = subprocess.run(
        [sys.executable, "-m", "testing.security", "pip-audit", "--reports", str(tmp_path)],
        capture_output=True, text=True, timeout=300, check=False, env=env, cwd=pins.REPO_ROOT,
    )  # fmt: skip
    assert done.returncode == 2
    assert done.stdout == ""
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("security pip-audit: error: pip-audit could not query")
    assert (
        json.loads((tmp_path / "pip-audit.result.json").read_text())["error"]
        == lines[0][len("security pip-audit: error: ") :]
    )


def test_snapshot_that_is_not_one_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ScanError, match="is not an OSV advisory snapshot"):
        osv_snapshot.load_snapshot(tmp_path)


def test_export_is_the_whole_lock(tmp_path: Path) -> None:
    exported = pip_audit_scan.export_locked(pins.REPO_ROOT, tmp_path / "req.txt")
    text = exported.read_text()
    lock = tomllib.loads((pins.REPO_ROOT / "uv.lock").read_text())
    locked = {
        (osv_snapshot.normalise(p["name"]), p["version"])
        for p in lock["package"]
        if "editable" not in p["source"] and "virtual" not in p["source"]
    }
    pinned = {
        (osv_snapshot.normalise(line.split("==")[0]), line.split("==")[1].split()[0])
        for line in text.splitlines()
        if "==" in line
    }
    assert pinned == locked
    assert text.count("--hash=sha256:") >= len(locked)


@pytest.fixture(scope="module")
def snapshot_url(advisory_db: Path) -> Iterator[tuple[str, osv_snapshot.QueryLog]]:
    with osv_snapshot.serve(osv_snapshot.load_snapshot(advisory_db)) as served:
        yield served


def post(url: str, body: object) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST")  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_server_answers_like_the_osv_query_api(
    snapshot_url: tuple[str, osv_snapshot.QueryLog], requests_2_19_ids: set[str]
) -> None:
    url, log = snapshot_url
    status, body = post(
        url, {"package": {"name": "Requests", "ecosystem": "PyPI"}, "version": "2.19.0"}
    )
    assert status == 200
    assert {v["id"] for v in body["vulns"]} == requests_2_19_ids
    assert post(
        url,
        {"package": {"name": "requests", "ecosystem": "PyPI"}, "version": REQUESTS_CLEAN_VERSION},
    ) == (200, {})
    assert (
        post(url, {"package": {"name": "requests", "ecosystem": "npm"}, "version": "1"})[0] == 400
    )
    assert post(url.replace("/v1/query", "/v1/querybatch"), {})[0] == 404
    assert post(url, {"version": "1"})[0] == 400
    assert {("requests", "2.19.0"), ("requests", REQUESTS_CLEAN_VERSION)} <= log.answered
    assert ("requests", "1") not in log.answered  # the rejected query was not "answered"


RECORD = {
    "id": "PYSEC-0000-1",
    "affected": [
        {
            "package": {"name": "Some_Pkg", "ecosystem": "PyPI"},
            "ranges": [
                {"type": "ECOSYSTEM", "events": [{"introduced": "1.0"}, {"fixed": "1.5"}]},
                {"type": "ECOSYSTEM", "events": [{"introduced": "2.0"}, {"last_affected": "2.1"}]},
                {"type": "GIT", "events": [{"introduced": "0"}, {"fixed": "abc"}]},
            ],
            "versions": ["0.9"],
        }
    ],
}


@pytest.mark.parametrize(
    ("version", "affected"),
    [
        ("0.8", False),
        ("0.9", True),  # listed in versions
        ("1.0", True),
        ("1.4.9", True),
        ("1.5", False),
        ("1.9", False),
        ("2.0", True),
        ("2.1", True),
        ("2.1.1", False),
    ],
)
def test_range_evaluation(version: str, affected: bool) -> None:
    assert osv_snapshot.affects(RECORD, "some-pkg", version) is affected


def test_names_compare_normalised() -> None:
    assert osv_snapshot.affects(RECORD, osv_snapshot.normalise("some.pkg"), "1.0")
    assert not osv_snapshot.affects(RECORD, "other-pkg", "1.0")


def test_parsed_records_are_cached_and_a_changed_record_is_read_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The JSON cache of a snapshot's records follows its files: an edited record, or an
    unreadable cache file, makes the YAML be parsed again."""
    monkeypatch.setenv(tools.CACHE_ENV, str(tmp_path / "cache"))
    monkeypatch.setattr(osv_snapshot, "CACHE_FROM_RECORDS", 1)  # a real one has thousands
    root = plant_snapshot(tmp_path / "snapshot")
    osv_snapshot.load_snapshot.cache_clear()
    first = osv_snapshot.load_snapshot(root)
    (cached,) = (tmp_path / "cache" / "osv-snapshots").glob("*.json")
    assert json.loads(cached.read_text()) == first.records

    record = root / "vulns" / "requests" / f"{PLANTED_ID}.yaml"
    record.write_text(record.read_text().replace("2.20.0", "2.21.0"))
    os.utime(record, ns=(1, 1))  # a new mtime, whatever the clock's resolution
    osv_snapshot.load_snapshot.cache_clear()
    assert [r["id"] for r in osv_snapshot.load_snapshot(root).query("requests", "2.20.5")] == [
        PLANTED_ID
    ]
    (replaced,) = (tmp_path / "cache" / "osv-snapshots").glob("*.json")  # the old one went
    assert replaced != cached

    for stale in (tmp_path / "cache" / "osv-snapshots").glob("*.json"):
        stale.write_text("{not json")
    osv_snapshot.load_snapshot.cache_clear()
    assert osv_snapshot.load_snapshot(root).record_count == 1
    osv_snapshot.load_snapshot.cache_clear()
