"""PostgreSQL: a real protocol health check and a fresh database per test."""

from __future__ import annotations

import secrets

import psycopg
from psycopg import sql

from testing.services.endpoints import PostgresEndpoint

CONNECT_TIMEOUT_S = 5


class PostgresError(RuntimeError):
    """PostgreSQL refused or is unreachable; the message carries the server's reason."""


def connect(
    endpoint: PostgresEndpoint, *, autocommit: bool = True
) -> psycopg.Connection[tuple[object, ...]]:
    """A connection to ``endpoint`` with a bounded connect timeout."""
    try:
        return psycopg.connect(
            endpoint.dsn.get_secret_value(),
            connect_timeout=CONNECT_TIMEOUT_S,
            autocommit=autocommit,
        )
    except psycopg.Error as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise PostgresError(f"PostgreSQL at {endpoint.host}:{endpoint.port}: {reason}") from None


def check(endpoint: PostgresEndpoint) -> str:
    """Run a query; return the server version, or raise :class:`PostgresError`."""
    with connect(endpoint) as conn:
        row = conn.execute("SELECT current_setting('server_version')").fetchone()
    if row is None:
        raise PostgresError(f"PostgreSQL at {endpoint.host}:{endpoint.port} answered no row")
    return str(row[0])


def create_database(admin: PostgresEndpoint, prefix: str = "t") -> PostgresEndpoint:
    """Create a uniquely named database; return the endpoint that points at it."""
    name = f"{prefix}_{secrets.token_hex(6)}"
    with connect(admin) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return admin.with_database(name)


def drop_database(admin: PostgresEndpoint, name: str) -> None:
    """Drop ``name``, disconnecting any session a test left open (PostgreSQL 13+)."""
    with connect(admin) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


def database_exists(admin: PostgresEndpoint, name: str) -> bool:
    with connect(admin) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_database WHERE datname = %s", (name,)
        ).fetchone()
    return bool(row and row[0])
