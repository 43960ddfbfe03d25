"""Protocol-level health checks, run all at once, reporting every missing service.

A TCP connect proves little (a port can be open while PostgreSQL still refuses
logins), so each check speaks the service's protocol: PostgreSQL runs a query, S3
lists buckets, HTTP fetches a health endpoint, Kubernetes answers ``/readyz``.
:func:`check_all` runs them concurrently and returns every failure, each with the
command that starts the missing service, so one run tells the whole story.
"""

from __future__ import annotations

import http.client
import time
import urllib.parse
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeoutError
from dataclasses import dataclass

from testing.services import postgres, s3
from testing.services.endpoints import (
    POSTGRES_URL_ENV,
    S3_ENDPOINT_ENV,
    START_HINT,
    EndpointError,
    postgres_from_env,
    s3_from_env,
)

CHECK_TIMEOUT_S = 10


@dataclass(frozen=True)
class ServiceCheck:
    """One service: a name, a probe that raises with the reason, and how to start it."""

    name: str
    probe: Callable[[], object]
    start_hint: str = START_HINT


@dataclass(frozen=True)
class Unhealthy:
    name: str
    reason: str
    start_hint: str

    def __str__(self) -> str:
        return f"{self.name}: {self.reason} -> {self.start_hint}"


def _missing(variable: str) -> Callable[[], object]:
    def probe() -> object:
        raise EndpointError(f"{variable} is not set")

    return probe


def postgres_check() -> ServiceCheck:
    """PostgreSQL from ``POSTGRES_URL``: connect and run a query."""
    try:
        endpoint = postgres_from_env()
    except EndpointError as exc:
        return ServiceCheck("postgres", _missing(str(exc)))
    if endpoint is None:
        return ServiceCheck("postgres", _missing(POSTGRES_URL_ENV))
    return ServiceCheck("postgres", lambda: postgres.check(endpoint))


def s3_check() -> ServiceCheck:
    """S3 from ``S3_ENDPOINT_URL`` and the AWS credential variables: list buckets."""
    try:
        endpoint = s3_from_env()
    except EndpointError as exc:
        return ServiceCheck("s3", _missing(str(exc)))
    if endpoint is None:
        return ServiceCheck("s3", _missing(S3_ENDPOINT_ENV))
    return ServiceCheck("s3", lambda: s3.check(endpoint))


def http_status(url: str, *, timeout: float) -> int:
    """GET an http(s) URL and return the status code; no other scheme is ever opened.

    http.client instead of urllib: urlopen would also follow ``file:`` and custom
    schemes, which a health URL taken from the environment must never reach.
    """
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{url!r} is not an http(s) URL")
    connection_class = (
        http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    )
    connection = connection_class(parts.hostname, parts.port, timeout=timeout)
    try:
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        connection.request("GET", target)
        return connection.getresponse().status
    finally:
        connection.close()


def http_check(name: str, url: str, *, start_hint: str = START_HINT) -> ServiceCheck:
    """GET ``url`` and expect a 2xx answer (a health endpoint, not just an open port)."""

    def probe() -> int:
        try:
            status = http_status(url, timeout=CHECK_TIMEOUT_S)
        except OSError as exc:
            raise ConnectionError(f"GET {url} failed: {exc}") from None
        if not 200 <= status < 300:
            raise ConnectionError(f"GET {url} answered {status}")
        return status

    return ServiceCheck(name, probe, start_hint)


def check_all(
    checks: Sequence[ServiceCheck], *, timeout: float = CHECK_TIMEOUT_S * 3
) -> list[Unhealthy]:
    """Run every check concurrently; return each failure (empty when all are healthy).

    ``timeout`` bounds the whole call: a probe still hanging then counts as a failure
    and is left to finish on its own (its own network timeouts end it), never awaited.
    """
    if not checks:
        return []
    deadline = time.monotonic() + timeout
    pool = ThreadPoolExecutor(max_workers=len(checks), thread_name_prefix="health")
    failures: list[Unhealthy] = []
    try:
        futures = [(check, pool.submit(check.probe)) for check in checks]
        for check, future in futures:
            try:
                future.result(timeout=max(deadline - time.monotonic(), 0.0))
            except FutureTimeoutError:
                reason = f"no answer within {timeout:g}s"
                failures.append(Unhealthy(check.name, reason, check.start_hint))
            except Exception as exc:
                failures.append(
                    Unhealthy(check.name, str(exc) or type(exc).__name__, check.start_hint)
                )
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
    return failures


def describe(failures: Sequence[Unhealthy]) -> str:
    """One line per missing service, for a test failure message."""
    names = ", ".join(f.name for f in failures)
    return f"required services unavailable ({names}):\n" + "\n".join(f"  {f}" for f in failures)
