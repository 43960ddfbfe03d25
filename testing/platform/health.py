"""Protocol-level health checks, run through a port-forward on clusters that run containers.

A Ready pod only says its probe passed; these checks talk to the service the way its
clients will: a PostgreSQL query (and the demo databases exist), MinIO's readiness
endpoint (and the buckets exist), the dashboard's HTTP health endpoint. On kwok no
process runs behind a pod, so deploy stops at API-level readiness there.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import boto3
import psycopg
from botocore.config import Config as BotoConfig
from kubernetes import client as k8s_client

from testing.k8s.port_forward import port_forward
from testing.platform.credentials import Credential
from testing.polling import TerminalFailure, wait_for_condition
from testing.services.health import http_status

DATABASES = ("iceberg_catalog", "demo")
BUCKETS = ("warehouse", "staging")
HTTP_TIMEOUT_S = 5.0

#: A check gets the local port of a forward to its service and raises if unhealthy.
Check = Callable[[int], None]


class UnhealthyError(RuntimeError):
    """The service answered, but not the way a healthy one does."""


@contextmanager
def forwarded(api: k8s_client.ApiClient, namespace: str, service: str, port: int) -> Iterator[int]:
    with port_forward(api, namespace, f"svc/{service}", port) as local_port:
        yield local_port


def http_ok(path: str) -> Check:
    def check(port: int) -> None:
        status = http_status(f"http://127.0.0.1:{port}{path}", timeout=HTTP_TIMEOUT_S)
        if status != 200:
            raise UnhealthyError(f"GET {path} answered {status}")

    return check


def postgres_query(credential: Credential, databases: tuple[str, ...] = ()) -> Check:
    """``SELECT`` through the forward; with ``databases``, also require that they exist."""

    def check(port: int) -> None:
        with psycopg.connect(
            host="127.0.0.1",
            port=port,
            dbname="postgres",
            user=credential.value("username"),
            password=credential.value("password"),
            connect_timeout=5,
        ) as conn:
            rows = conn.execute(
                "SELECT datname FROM pg_database WHERE datname = ANY(%s)", (list(databases),)
            ).fetchall()
        found = {str(row[0]) for row in rows}
        missing = sorted(set(databases) - found)
        if missing:
            raise UnhealthyError(f"databases missing: {', '.join(missing)}")

    return check


def minio_buckets(credential: Credential, buckets: tuple[str, ...] = BUCKETS) -> Check:
    def check(port: int) -> None:
        s3 = boto3.client(
            "s3",
            endpoint_url=f"http://127.0.0.1:{port}",
            aws_access_key_id=credential.value("root-user"),
            aws_secret_access_key=credential.value("root-password"),
            region_name="us-east-1",
            config=BotoConfig(connect_timeout=5, read_timeout=10, retries={"max_attempts": 1}),
        )
        names = {bucket["Name"] for bucket in s3.list_buckets().get("Buckets", [])}
        missing = sorted(set(buckets) - names)
        if missing:
            raise UnhealthyError(f"buckets missing: {', '.join(missing)}")

    return check


def wait_healthy(
    api: k8s_client.ApiClient,
    namespace: str,
    service: str,
    port: int,
    check: Check,
    *,
    timeout: float,
) -> None:
    """Run ``check`` through a fresh forward until it passes or ``timeout`` runs out.

    Unreachable (forward not up yet, connection refused) is retried; an answer that says
    unhealthy, or rejected credentials, ends the wait at once with that reason.
    """

    def attempt() -> bool:
        try:
            with forwarded(api, namespace, service, port) as local_port:
                check(local_port)
        except UnhealthyError as exc:
            # The service answered, after its workload was ready: asking again will not
            # change the answer (a missing database stays missing).
            raise TerminalFailure(f"{service} answered but is not healthy: {exc}") from exc
        except psycopg.OperationalError as exc:
            if "password authentication failed" in str(exc):
                raise TerminalFailure(
                    f"{service} rejects the credentials in its Secret: {exc}"
                ) from exc
            raise
        return True

    wait_for_condition(
        attempt, timeout=timeout, description=f"{service} to answer its protocol check"
    )
