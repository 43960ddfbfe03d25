"""``postgres`` and ``s3`` fixtures (a fresh database / bucket per test) and ``--local-services``.

Endpoints, in order: the environment (``POSTGRES_URL``; ``S3_ENDPOINT_URL`` and
the AWS credential variables), else the platform's in-cluster Services through a
port-forward (``ktp-platform``/``postgres`` and ``minio``, credentials from their
Secrets). A missing service FAILS the test, naming the command that starts it.

``--local-services`` starts real PostgreSQL and MinIO servers once, in the pytest
main process (the xdist controller) before any worker exists, and hands their
endpoints to each worker through xdist's own channel (``workerinput``), never through
``os.environ``: a child process the tests start inherits no password. Exactly one
server set runs per test run, and it is stopped when pytest exits (Ctrl-C included).
"""

from __future__ import annotations

import base64
import contextlib
from collections.abc import Iterator
from typing import Any

import pytest
import urllib3.exceptions
from kubernetes import client as k8s_client
from kubernetes.client.exceptions import ApiException
from pydantic import SecretStr

from testing.cluster import ClusterError, get_provider
from testing.k8s.client import api_client
from testing.k8s.objects import K8sError
from testing.k8s.port_forward import port_forward
from testing.platform import platform_namespace
from testing.polling import ConditionFailedError, WaitTimeoutError
from testing.services import postgres as pg
from testing.services import s3 as s3svc
from testing.services.endpoints import (
    START_HINT,
    EndpointError,
    PostgresEndpoint,
    S3Endpoint,
    given_to_this_process,
    postgres_from_env,
    s3_from_env,
    use_in_this_process,
)
from testing.services.local import LocalServiceError, local_services

_LOCAL = pytest.StashKey[contextlib.ExitStack]()
_WORKER_KEY = "ktp_local_services"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("k8s-test-platform services")
    group.addoption(
        "--local-services",
        action="store_true",
        default=False,
        help="start local PostgreSQL and MinIO servers for this run and stop them afterwards",
    )


def pytest_configure(config: pytest.Config) -> None:
    workerinput = getattr(config, "workerinput", None)
    if workerinput is not None:  # an xdist worker: the controller started the servers
        if _WORKER_KEY in workerinput:
            use_in_this_process(workerinput[_WORKER_KEY])
        return
    if not config.getoption("--local-services"):
        return
    stack = contextlib.ExitStack()
    try:
        env = stack.enter_context(local_services())
    except (LocalServiceError, WaitTimeoutError, ConditionFailedError) as exc:
        stack.close()
        raise pytest.UsageError(f"--local-services: {str(exc).splitlines()[0]}") from None
    # Not os.environ: every child process would inherit the passwords.
    use_in_this_process(env)
    stack.callback(use_in_this_process, {})
    config.stash[_LOCAL] = stack


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    """xdist: hand the local servers' endpoints to each worker, over xdist's own channel."""
    given = given_to_this_process()
    if given:
        node.workerinput[_WORKER_KEY] = given


def pytest_unconfigure(config: pytest.Config) -> None:
    stack = config.stash.get(_LOCAL, None)
    if stack is not None:
        stack.close()


def _secret(api: Any, namespace: str, name: str) -> dict[str, str]:
    data = k8s_client.CoreV1Api(api).read_namespaced_secret(name, namespace).data or {}
    return {key: base64.b64decode(value).decode() for key, value in data.items()}


@contextlib.contextmanager
def _from_cluster(kind: str) -> Iterator[PostgresEndpoint | S3Endpoint | None]:
    """Port-forward to the platform's in-cluster Service, if a cluster runs one."""
    stack = contextlib.ExitStack()
    endpoint: PostgresEndpoint | S3Endpoint | None = None
    ns = platform_namespace()
    try:
        provider = get_provider()
        if provider.exists():
            api = api_client(provider.kubeconfig_path())
            stack.callback(api.close)
            if kind == "postgres":
                creds = _secret(api, ns, "postgres-credentials")
                port = stack.enter_context(port_forward(api, ns, "svc/postgres", 5432))
                endpoint = PostgresEndpoint(
                    "127.0.0.1", port, creds["username"], SecretStr(creds["password"]), "postgres"
                )
            else:
                creds = _secret(api, ns, "minio-credentials")
                port = stack.enter_context(port_forward(api, ns, "svc/minio", 9000))
                endpoint = S3Endpoint(
                    f"http://127.0.0.1:{port}",
                    SecretStr(creds["root-user"]),
                    SecretStr(creds["root-password"]),
                )
    except (ClusterError, ApiException, K8sError, KeyError, urllib3.exceptions.HTTPError, OSError):
        stack.close()
        endpoint = None
    with stack:
        yield endpoint


def _fail_missing(name: str, reason: str) -> None:
    pytest.fail(f"required service {name} unavailable: {reason} -> {START_HINT}", pytrace=False)


@pytest.fixture(scope="session")
def postgres_admin() -> Iterator[PostgresEndpoint]:
    """An endpoint with rights to create databases (from the env, or the cluster)."""
    try:
        endpoint = postgres_from_env()
    except EndpointError as exc:
        _fail_missing("postgres", str(exc))
        raise
    if endpoint is not None:
        yield endpoint
        return
    with _from_cluster("postgres") as found:
        if not isinstance(found, PostgresEndpoint):
            _fail_missing("postgres", "POSTGRES_URL is not set and no in-cluster postgres Service")
            raise AssertionError("unreachable")
        yield found


@pytest.fixture(scope="session")
def s3_admin() -> Iterator[S3Endpoint]:
    """Credentials that may create buckets (from the env, or the cluster)."""
    try:
        endpoint = s3_from_env()
    except EndpointError as exc:
        _fail_missing("s3", str(exc))
        raise
    if endpoint is not None:
        yield endpoint
        return
    with _from_cluster("s3") as found:
        if not isinstance(found, S3Endpoint):
            _fail_missing("s3", "S3_ENDPOINT_URL is not set and no in-cluster minio Service")
            raise AssertionError("unreachable")
        yield found


@pytest.fixture
def postgres(postgres_admin: PostgresEndpoint) -> Iterator[PostgresEndpoint]:
    """A database created for this test and dropped after it (``.dsn`` is a SecretStr)."""
    try:
        endpoint = pg.create_database(postgres_admin)
    except pg.PostgresError as exc:
        _fail_missing("postgres", str(exc))
        raise
    yield endpoint
    pg.drop_database(postgres_admin, endpoint.dbname)


@pytest.fixture
def s3(s3_admin: S3Endpoint) -> Iterator[S3Endpoint]:
    """A bucket created for this test, emptied and deleted after it."""
    try:
        endpoint = s3svc.create_bucket(s3_admin)
    except s3svc.S3Error as exc:
        _fail_missing("s3", str(exc))
        raise
    yield endpoint
    s3svc.delete_bucket(s3_admin, endpoint.bucket)
