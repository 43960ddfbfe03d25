"""Service endpoints from the environment, secrets kept out of reprs, checks run together."""

from __future__ import annotations

import http.server
import threading

import pytest

from testing.services.endpoints import (
    EndpointError,
    PostgresEndpoint,
    postgres_from_env,
    s3_from_env,
)
from testing.services.health import ServiceCheck, check_all, describe, http_status


def test_postgres_url_round_trips_and_hides_the_password() -> None:
    endpoint = postgres_from_env({"POSTGRES_URL": "postgresql://app:p%40ss@db.local:6543/orders"})
    assert endpoint == PostgresEndpoint("db.local", 6543, "app", endpoint.password, "orders")  # type: ignore[union-attr]
    assert endpoint is not None
    assert endpoint.password.get_secret_value() == "p@ss"
    assert endpoint.dsn.get_secret_value() == "postgresql://app:p%40ss@db.local:6543/orders"
    assert "p@ss" not in repr(endpoint)
    assert "p%40ss" not in str(endpoint)


def test_bad_postgres_url_is_rejected() -> None:
    with pytest.raises(EndpointError, match="postgresql://user:pass@host:port/dbname"):
        postgres_from_env({"POSTGRES_URL": "mysql://x@y/z"})


def test_s3_needs_credentials_with_the_endpoint() -> None:
    assert s3_from_env({}) is None
    with pytest.raises(EndpointError, match="AWS_ACCESS_KEY_ID"):
        s3_from_env({"S3_ENDPOINT_URL": "http://127.0.0.1:9000"})
    endpoint = s3_from_env(
        {
            "S3_ENDPOINT_URL": "http://h:1",
            "AWS_ACCESS_KEY_ID": "a",
            "AWS_SECRET_ACCESS_KEY": "s",
            "AWS_DEFAULT_REGION": "eu-west-1",
        }
    )
    assert endpoint is not None
    assert (endpoint.endpoint_url, endpoint.region) == ("http://h:1", "eu-west-1")
    assert "'s'" not in repr(endpoint)


def test_check_all_reports_a_hanging_probe_at_its_deadline_without_awaiting_it() -> None:
    release, finished = threading.Event(), threading.Event()

    def hangs() -> None:
        release.wait(30)
        finished.set()

    try:
        failures = check_all(
            [ServiceCheck("db", hangs, "start db"), ServiceCheck("ok", lambda: None)],
            timeout=0.2,
        )
        awaited = finished.is_set()
    finally:
        release.set()
    assert not awaited  # check_all returned while the probe was still blocked
    assert [(f.name, f.reason) for f in failures] == [("db", "no answer within 0.2s")]


def test_check_all_runs_checks_concurrently_and_reports_every_failure() -> None:
    barrier = threading.Barrier(3, timeout=5)  # passes only if all three run at the same time

    def ok() -> None:
        barrier.wait()

    def refused() -> None:
        barrier.wait()
        raise ConnectionError("connection refused")

    def missing() -> None:
        barrier.wait()
        raise EndpointError("POSTGRES_URL is not set")

    failures = check_all(
        [
            ServiceCheck("http", ok),
            ServiceCheck("s3", refused, "start s3"),
            ServiceCheck("postgres", missing, "start pg"),
        ]
    )
    assert [(f.name, f.reason) for f in failures] == [
        ("s3", "connection refused"),
        ("postgres", "POSTGRES_URL is not set"),
    ]
    assert describe(failures).splitlines() == [
        "required services unavailable (s3, postgres):",
        "  s3: connection refused -> start s3",
        "  postgres: POSTGRES_URL is not set -> start pg",
    ]


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://h/x", "http://", "localhost:80/x"])
def test_http_status_opens_only_http_urls(url: str) -> None:
    with pytest.raises(ValueError, match="is not an http"):
        http_status(url, timeout=1)


def test_http_status_sends_path_and_query_and_returns_the_code() -> None:
    seen: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen.append(self.path)
            self.send_response(204 if self.path == "/healthz?deep=1" else 404)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            del args

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        base = f"http://127.0.0.1:{server.server_address[1]}"
        assert http_status(f"{base}/healthz?deep=1", timeout=5) == 204
        assert http_status(base, timeout=5) == 404
        assert seen == ["/healthz?deep=1", "/"]
    finally:
        server.shutdown()
        server.server_close()
