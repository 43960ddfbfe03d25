"""Serve an OSV-format advisory snapshot on loopback, as the OSV ``/v1/query`` API.

Why: CI and these machines cannot reach the live vulnerability services, and a
pip-audit that cannot reach its service may still print "No known
vulnerabilities found". Serving a dated snapshot (the PyPA advisory database:
OSV records in YAML under ``vulns/<package>/``, its date in ``SNAPSHOT_DATE``)
to pip-audit's own OSV client keeps pip-audit's matching and reporting, and
makes the offline check honest about how old its data is.

The server answers what pip-audit sends (``POST`` with
``{"package": {"name", "ecosystem": "PyPI"}, "version"}``) with
``{"vulns": [...]}``, or ``{}`` when nothing matches, as the live API does.
A version is affected when it is listed in ``affected[].versions`` or falls in an
``ECOSYSTEM`` range (``introduced`` / ``fixed`` / ``last_affected`` events),
compared with :mod:`packaging.version`; names compare after PEP 503 normalisation.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import json
import os
import re
import threading
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import yaml
from packaging.version import InvalidVersion, Version

from testing import tools
from testing.security.report import ScanError

try:  # libyaml's loader reads the ~2,600 records several times faster
    from yaml import CSafeLoader as SafeLoader
except ImportError:  # pragma: no cover - PyYAML built without libyaml
    from yaml import SafeLoader  # type: ignore[assignment]

QUERY_PATH = "/v1/query"
#: Snapshots with at least this many record files are parsed once and cached as JSON.
CACHE_FROM_RECORDS = 200


def normalise(name: str) -> str:
    """PEP 503 name normalisation, as pip-audit's ``canonical_name``."""
    return re.sub(r"[-_.]+", "-", name).lower()


def _version(text: str) -> Version | None:
    try:
        return Version(text)
    except InvalidVersion:
        return None


def _in_range(version: Version, events: list[dict[str, str]]) -> bool:
    """OSV range evaluation: walk the events in version order, toggling "affected"."""
    ordered: list[tuple[Version, int, str]] = []
    for event in events:
        for kind, rank in (("introduced", 0), ("fixed", 1), ("last_affected", 1)):
            if kind in event:
                text = str(event[kind])
                at = Version("0") if kind == "introduced" and text == "0" else _version(text)
                if at is None:
                    continue
                ordered.append((at, rank, kind))
    affected = False
    for at, _, kind in sorted(ordered):
        if kind == "introduced" and version >= at:
            affected = True
        elif (kind == "fixed" and version >= at) or (kind == "last_affected" and version > at):
            affected = False
    return affected


def affects(record: dict[str, Any], name: str, version: str) -> bool:
    """Whether OSV ``record`` affects PyPI package ``name`` (normalised) at ``version``."""
    parsed = _version(version)
    for affected in record.get("affected") or []:
        package = affected.get("package") or {}
        if package.get("ecosystem") != "PyPI" or normalise(str(package.get("name", ""))) != name:
            continue
        if version in {str(v) for v in affected.get("versions") or []}:
            return True
        if parsed is None:
            continue
        for rng in affected.get("ranges") or []:
            if rng.get("type") == "ECOSYSTEM" and _in_range(parsed, rng.get("events") or []):
                return True
    return False


def _jsonable(value: Any) -> Any:
    """YAML turns unquoted RFC 3339 stamps into datetimes; OSV JSON carries them as strings."""
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    return value


@dataclass(frozen=True)
class Snapshot:
    """The records of one advisory snapshot, by normalised package name."""

    root: Path
    date: str
    records: dict[str, list[dict[str, Any]]]

    @property
    def record_count(self) -> int:
        return sum(len(r) for r in self.records.values())

    def query(self, name: str, version: str) -> list[dict[str, Any]]:
        key = normalise(name)
        return [r for r in self.records.get(key, []) if affects(r, key, version)]


def _fingerprint(root: Path, files: list[Path]) -> str:
    """Changes whenever a record file or SNAPSHOT_DATE does (path, size, mtime)."""
    sha = hashlib.sha256(str(root).encode())
    for path in [root / "SNAPSHOT_DATE", *files]:
        info = path.stat()
        sha.update(f"{path.relative_to(root)}\0{info.st_size}\0{info.st_mtime_ns}\n".encode())
    return sha.hexdigest()[:24]


@functools.cache
def load_snapshot(root: Path) -> Snapshot:
    """Read every ``vulns/**/*.yaml`` OSV record; cached, a snapshot does not change under us.

    Parsing ~7,000 YAML files takes about 8 s, so the records are also kept as one JSON
    file in the user's cache, keyed by a fingerprint of every file (about 0.3 s to read).
    """
    vulns = root / "vulns"
    date_file = root / "SNAPSHOT_DATE"
    if not vulns.is_dir() or not date_file.is_file():
        raise ScanError(
            f"{root} is not an OSV advisory snapshot (needs vulns/ and SNAPSHOT_DATE); "
            "point SECURITY_ADVISORY_DB at a copy of the PyPA advisory-database"
        )
    files = sorted(vulns.rglob("*.yaml"))
    date = date_file.read_text(encoding="utf-8").strip()
    if len(files) < CACHE_FROM_RECORDS:  # quick to parse; a planted snapshot leaves no file
        records = _parse(files)
        if not records:
            raise ScanError(f"advisory snapshot {root} holds no OSV records under vulns/")
        return Snapshot(root=root, date=date, records=records)
    place = hashlib.sha256(str(root).encode()).hexdigest()[:12]
    cached = tools.cache_dir() / "osv-snapshots" / f"{place}-{_fingerprint(root, files)}.json"
    try:
        records = json.loads(cached.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        records = _parse(files)
        cached.parent.mkdir(parents=True, exist_ok=True)
        partial = cached.with_suffix(f".{os.getpid()}.part")
        partial.write_text(json.dumps(records), encoding="utf-8")
        partial.replace(cached)
        for older in cached.parent.glob(f"{place}-*.json"):  # this snapshot's, before it changed
            if older != cached:
                older.unlink(missing_ok=True)
    if not records:
        raise ScanError(f"advisory snapshot {root} holds no OSV records under vulns/")
    return Snapshot(root=root, date=date, records=records)


def _parse(files: list[Path]) -> dict[str, list[dict[str, Any]]]:
    records: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for path in files:
        try:
            record = yaml.load(path.read_text(encoding="utf-8"), Loader=SafeLoader)
        except yaml.YAMLError as exc:
            raise ScanError(f"advisory {path} is not valid YAML: {exc}") from None
        if not isinstance(record, dict) or "id" not in record:
            raise ScanError(f"advisory {path} is not an OSV record (no id)")
        record = _jsonable(record)
        names = {
            normalise(str((a.get("package") or {}).get("name", "")))
            for a in record.get("affected") or []
        }
        for name in names - {""}:
            records[name].append(record)
    return dict(records)


@dataclass
class QueryLog:
    """The (name, version) pairs the server answered, so the caller can prove every lookup ran."""

    answered: set[tuple[str, str]] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, name: str, version: str) -> None:
        with self.lock:
            self.answered.add((normalise(name), version))


def _handler(snapshot: Snapshot, log: QueryLog) -> type[BaseHTTPRequestHandler]:
    class OsvQueryHandler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            """Silence per-request logging: pip-audit's output is what matters."""

        def _reply(self, status: int, body: dict[str, Any]) -> None:
            payload = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def do_POST(self) -> None:
            if self.path.split("?", 1)[0] != QUERY_PATH:
                self._reply(404, {"message": f"only {QUERY_PATH} is served"})
                return
            try:
                length = int(self.headers.get("Content-Length", "0"))
                query = json.loads(self.rfile.read(length) or b"{}")
                package = query["package"]
                name, ecosystem, version = package["name"], package["ecosystem"], query["version"]
            except (ValueError, KeyError, TypeError):
                self._reply(400, {"message": "expected {package: {name, ecosystem}, version}"})
                return
            if ecosystem != "PyPI":
                self._reply(400, {"message": f"this snapshot serves PyPI only, not {ecosystem}"})
                return
            vulns = snapshot.query(str(name), str(version))
            log.add(str(name), str(version))
            self._reply(200, {"vulns": vulns} if vulns else {})

    return OsvQueryHandler


@contextmanager
def serve(snapshot: Snapshot) -> Iterator[tuple[str, QueryLog]]:
    """Serve ``snapshot`` on 127.0.0.1 (a free port); yields the query URL and the query log."""
    log = QueryLog()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(snapshot, log))
    thread = threading.Thread(target=server.serve_forever, name="osv-snapshot", daemon=True)
    thread.start()
    try:
        host, port = server.server_address[:2]
        yield f"http://{host!s}:{port}{QUERY_PATH}", log
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
