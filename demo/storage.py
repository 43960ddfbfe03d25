"""Iceberg storage through PyIceberg: SQL catalog on PostgreSQL, data files on S3.

One namespace per product. Writes add one run's rows (bronze, silver, quarantine,
quality; replacing that run's rows, if an interrupted attempt left some) or overwrite
(gold, the current business view); each makes a snapshot, so history and time travel
come with every run. ``expire`` bounds that history: PyIceberg 0.12's
ExpireSnapshots only removes snapshot entries from the table metadata and PyIceberg has
no orphan-file removal, so this module deletes the files that only expired snapshots
referenced (the set difference of reachable files before and after the expiry).
Files that no snapshot ever referenced are never touched, so a concurrent writer's
uncommitted files are safe.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import pyarrow as pa  # type: ignore[import-untyped]
from pyarrow import fs
from pyiceberg.catalog.sql import SqlCatalog
from pyiceberg.exceptions import (
    NamespaceAlreadyExistsError,
    NoSuchTableError,
    TableAlreadyExistsError,
)
from pyiceberg.expressions import AlwaysTrue, BooleanExpression, EqualTo
from pyiceberg.table import Table
from sqlalchemy.exc import SQLAlchemyError

from demo.config import CATALOG_NAME, DemoSettings
from demo.errors import DemoError
from demo.model import Kind, Row

ARROW_TYPES: dict[str, pa.DataType] = {
    "str": pa.string(),
    "int": pa.int64(),
    "float": pa.float64(),
    "date": pa.date32(),
    "timestamp": pa.timestamp("us", tz="UTC"),
    "bool": pa.bool_(),
}

#: Old metadata.json files are deleted on commit beyond this many, so the metadata log
#: is bounded even before snapshot expiry runs.
TABLE_PROPERTIES = {
    "write.metadata.delete-after-commit.enabled": "true",
    "write.metadata.previous-versions-max": "20",
}


def arrow_schema(columns: Sequence[tuple[str, Kind | str]]) -> pa.Schema:
    return pa.schema([pa.field(name, ARROW_TYPES[kind], nullable=True) for name, kind in columns])


@dataclass(frozen=True)
class ExpiryResult:
    table: str
    expired: list[int]
    deleted_files: list[str]


def _host(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.hostname}:{parts.port}" if parts.port else str(parts.hostname)


@contextmanager
def _service_errors(settings: DemoSettings) -> Iterator[None]:
    """Turn driver errors into one line that names the service and what to check."""
    try:
        yield
    except SQLAlchemyError as exc:
        where = _host(settings.catalog_url.get_secret_value())
        cause = getattr(exc, "orig", None) or exc
        first = (str(cause).strip().splitlines() or [type(cause).__name__])[0]
        raise DemoError(
            f"Iceberg catalog database at {where} failed: {first}; "
            "check ICEBERG_CATALOG_URL and that PostgreSQL is up"
        ) from None
    except OSError as exc:
        where = settings.s3_endpoint or "AWS S3"
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DemoError(
            f"object store {where} failed: {first}; check S3_ENDPOINT_URL, the AWS_* "
            "credentials and DEMO_WAREHOUSE"
        ) from None


class Warehouse:
    """The demo's view of the catalog: namespaces per product, tables per layer."""

    def __init__(self, settings: DemoSettings) -> None:
        self.settings = settings
        with _service_errors(settings):
            self.catalog = SqlCatalog(CATALOG_NAME, **settings.catalog_properties())

    @contextmanager
    def guarded(self) -> Iterator[None]:
        with _service_errors(self.settings):
            yield

    def namespace(self, base: str) -> str:
        suffix = self.settings.namespace_suffix
        return f"{base}_{suffix}" if suffix else base

    def ensure_bucket(self) -> None:
        """Create the warehouse bucket if missing (the platform's init job normally has)."""
        parts = urlsplit(self.settings.warehouse)
        if parts.scheme != "s3":
            return
        s = self.settings
        with self.guarded():
            s3 = fs.S3FileSystem(
                endpoint_override=s.s3_endpoint,
                access_key=s.s3_access_key.get_secret_value() if s.s3_access_key else None,
                secret_key=s.s3_secret_key.get_secret_value() if s.s3_secret_key else None,
                region=s.s3_region,
                allow_bucket_creation=True,
            )
            if s3.get_file_info(parts.netloc).type == fs.FileType.NotFound:
                s3.create_dir(parts.netloc)

    def ensure_namespace(self, namespace: str) -> None:
        with self.guarded(), contextlib.suppress(NamespaceAlreadyExistsError):
            self.catalog.create_namespace(namespace)

    def record_run(self, namespace: str, properties: dict[str, str]) -> None:
        """Note the last run's inputs on the namespace, so a checker can regenerate its seed."""
        with self.guarded():
            self.catalog.update_namespace_properties(namespace, updates=properties)

    def load(self, identifier: str) -> Table:
        with self.guarded():
            return self.catalog.load_table(identifier)

    def tables(self, namespace: str) -> list[str]:
        with self.guarded():
            if (namespace,) not in self.catalog.list_namespaces():
                return []
            return sorted(".".join(t) for t in self.catalog.list_tables(namespace))

    def write(
        self,
        identifier: str,
        schema: pa.Schema,
        rows: Sequence[Row],
        *,
        overwrite: bool = False,
        replace: tuple[str, str] | None = None,
    ) -> int:
        """Append (or overwrite with) ``rows``; new columns evolve the schema first.

        ``replace=(column, value)`` makes the write idempotent: the rows where ``column``
        equals ``value`` (a run's id) are replaced by ``rows`` in one commit, so a retried
        run leaves its rows once, whatever an interrupted attempt wrote before.
        Columns the table has but ``rows`` lack are written as nulls, so an older writer
        keeps working after a column was added. Returns the new snapshot id.
        """
        with self.guarded():
            data = pa.Table.from_pylist(list(rows), schema=schema)
            table = self._load_or_create(identifier, schema)
            present = {f.name for f in table.schema().fields}
            missing = [f for f in schema if f.name not in present]
            if missing:
                with table.update_schema() as update:
                    update.union_by_name(pa.schema(missing))
            data = _conform(data, table.schema().as_arrow())
            if overwrite or replace is not None:
                where: BooleanExpression = AlwaysTrue()
                if replace is not None:
                    # PyIceberg's signature is (term, literal); its stubs disagree.
                    where = EqualTo(replace[0], replace[1])  # type: ignore[call-arg,arg-type]
                with warnings.catch_warnings():
                    # PyIceberg warns when an overwrite replaces nothing (a first run).
                    warnings.filterwarnings("ignore", "Delete operation did not match")
                    table.overwrite(data, overwrite_filter=where)
            else:
                table.append(data)
            snapshot = table.current_snapshot()
            if snapshot is None:  # pragma: no cover - a commit always makes one
                raise DemoError(f"{identifier}: commit produced no snapshot")
            return snapshot.snapshot_id

    def _load_or_create(self, identifier: str, schema: pa.Schema) -> Table:
        try:
            return self.catalog.load_table(identifier)
        except NoSuchTableError:
            try:
                return self.catalog.create_table(
                    identifier, schema=schema, properties=TABLE_PROPERTIES
                )
            except TableAlreadyExistsError:
                return self.catalog.load_table(identifier)

    def expire(self, identifier: str, *, older_than: datetime, retain_last: int) -> ExpiryResult:
        """Expire snapshots older than ``older_than`` beyond the newest ``retain_last``.

        Then delete the manifest lists, manifests and data files that only the expired
        snapshots reached. Branch and tag heads are never expired.
        """
        with self.guarded():
            table = self.catalog.load_table(identifier)
            snapshots = sorted(table.metadata.snapshots, key=lambda s: s.timestamp_ms)
            protected = {ref.snapshot_id for ref in table.metadata.refs.values()}
            keep = {s.snapshot_id for s in snapshots[-retain_last:]} | protected
            cutoff = int(older_than.timestamp() * 1000)
            doomed = [
                s.snapshot_id
                for s in snapshots
                if s.snapshot_id not in keep and s.timestamp_ms < cutoff
            ]
            if not doomed:
                return ExpiryResult(identifier, [], [])
            before = reachable_files(table)
            table.maintenance.expire_snapshots().by_ids(doomed).commit()
            table = self.catalog.load_table(identifier)
            garbage = sorted(before - reachable_files(table))
            for path in garbage:
                table.io.delete(path)
            return ExpiryResult(identifier, doomed, garbage)


def reachable_files(table: Table) -> set[str]:
    """Every manifest list, manifest and live data file some snapshot of ``table`` reaches."""
    io = table.io
    files: set[str] = set()
    entries: dict[str, list[str]] = {}
    for snapshot in table.metadata.snapshots:
        files.add(snapshot.manifest_list)
        for manifest in snapshot.manifests(io):
            files.add(manifest.manifest_path)
            if manifest.manifest_path not in entries:
                entries[manifest.manifest_path] = [
                    e.data_file.file_path
                    for e in manifest.fetch_manifest_entry(io, discard_deleted=True)
                ]
            files.update(entries[manifest.manifest_path])
    return files


def _conform(data: pa.Table, target: pa.Schema) -> pa.Table:
    """Reorder and cast ``data`` to ``target``; absent columns become nulls."""
    arrays: list[Any] = []
    for field in target:
        if field.name in data.column_names:
            arrays.append(data.column(field.name).cast(field.type))
        else:
            arrays.append(pa.nulls(data.num_rows, type=field.type))
    return pa.Table.from_arrays(arrays, schema=target)
