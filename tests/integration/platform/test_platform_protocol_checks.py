"""Deploy's protocol checks, through real port-forwards, against real servers.

On a cluster that runs containers, deploy does not trust a Ready pod: it queries
PostgreSQL, asks MinIO's readiness endpoint and lists its buckets, and GETs the
dashboard's /healthz, each through a port-forward via the API server. Here the pods
are kwok's, so a ``ClusterPortForward`` makes kwok answer those port-forwards by
dialling real local servers: a real PostgreSQL and a real MinIO (testing.services.local)
and, standing in for the dashboard (its image cannot be built without a registry),
a small HTTP server with the same /healthz contract. Deploy is told the cluster runs
containers, so every byte of its checks really travels client -> API server -> kwok ->
server. The Secrets are created up front with the local servers' credentials, which
deploy keeps, as it keeps any existing Secret.
"""

from __future__ import annotations

import base64
import threading
import uuid
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import boto3
import psycopg
import pytest
from kubernetes import client as kube

from testing.platform import PlatformError
from testing.platform.deploy import Deployer
from testing.platform.health import BUCKETS, DATABASES
from testing.platform.volumes import delete_simulated_volumes
from testing.services.local import LocalMinio, LocalPostgres


class _Health(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200 if self.path == "/healthz" else 404)
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, format: str, *args: object) -> None:
        return


@pytest.fixture(scope="module")
def servers() -> Iterator[tuple[LocalPostgres, LocalMinio, int]]:
    postgres, minio = LocalPostgres(), LocalMinio()
    http = ThreadingHTTPServer(("127.0.0.1", 0), _Health)
    thread = threading.Thread(target=http.serve_forever, daemon=True)
    try:
        postgres.start()
        minio.start()
        thread.start()
        yield postgres, minio, int(http.server_address[1])
    finally:
        http.shutdown()
        http.server_close()
        minio.stop()
        postgres.stop()


@pytest.fixture
def wired_namespace(
    namespace_factory: Callable[[str], str],
    api_client: kube.ApiClient,
    servers: tuple[LocalPostgres, LocalMinio, int],
) -> Iterator[str]:
    """A namespace whose pods' ports kwok forwards to the local servers."""
    postgres, minio, http_port = servers
    namespace = namespace_factory("protocol")
    core = kube.CoreV1Api(api_client)
    for name, data in (
        ("postgres-credentials",
         {"username": postgres.user, "password": postgres.password.get_secret_value()}),
        ("minio-credentials",
         {"root-user": minio.access_key.get_secret_value(),
          "root-password": minio.secret_key.get_secret_value()}),
    ):  # fmt: skip
        core.create_namespaced_secret(
            namespace,
            kube.V1Secret(
                metadata=kube.V1ObjectMeta(name=name),
                data={k: base64.b64encode(v.encode()).decode() for k, v in data.items()},
            ),
        )
    custom = kube.CustomObjectsApi(api_client)
    forward = f"ktp-protocol-{uuid.uuid4().hex[:8]}"
    targets = {5432: postgres.port, 9000: minio.port, 8080: http_port}
    custom.create_cluster_custom_object(
        "kwok.x-k8s.io",
        "v1alpha1",
        "clusterportforwards",
        {
            "apiVersion": "kwok.x-k8s.io/v1alpha1",
            "kind": "ClusterPortForward",
            "metadata": {"name": forward},
            "spec": {
                "selector": {"matchNamespaces": [namespace]},
                "forwards": [
                    {"ports": [port], "target": {"port": local, "address": "127.0.0.1"}}
                    for port, local in targets.items()
                ],
            },
        },
    )
    yield namespace
    custom.delete_cluster_custom_object("kwok.x-k8s.io", "v1alpha1", "clusterportforwards", forward)
    delete_simulated_volumes(api_client, namespace)


def _deploy(api: kube.ApiClient, namespace: str, tmp_path: Path) -> Deployer:
    return Deployer(
        api,
        runs_containers=True,
        simulated_volumes=True,  # kwok's nodes have no storage, whatever the checks do
        stage_timeout=90,
        namespace=namespace,
        diagnostics_dir=tmp_path / "diagnostics",
    )


@pytest.mark.requirement("DEP-009")
def test_protocol_checks_fail_on_what_the_init_jobs_should_have_made(
    api_client: kube.ApiClient,
    servers: tuple[LocalPostgres, LocalMinio, int],
    wired_namespace: str,
    tmp_path: Path,
) -> None:
    """The simulated init Jobs complete but create nothing: only a real query can tell."""
    postgres, _, _ = servers
    with psycopg.connect(**_pg(postgres), autocommit=True) as conn:
        for name in DATABASES:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
    stages: list[str] = []
    deployer = _deploy(api_client, wired_namespace, tmp_path)
    deployer.before_stage = stages.append

    with pytest.raises(PlatformError) as failed:
        deployer.run()

    message = str(failed.value)
    assert message.startswith("databases did not become healthy: ")
    assert "databases missing: demo, iceberg_catalog" in message
    assert "timed out" not in message
    assert stages == ["base", "services", "init"]


@pytest.mark.requirement("DEP-009")
def test_deploy_reports_healthy_after_real_protocol_checks(
    api_client: kube.ApiClient,
    servers: tuple[LocalPostgres, LocalMinio, int],
    wired_namespace: str,
    tmp_path: Path,
) -> None:
    postgres, minio, _ = servers
    # What the init Jobs do in a cluster that runs them.
    with psycopg.connect(**_pg(postgres), autocommit=True) as conn:
        existing = {row[0] for row in conn.execute("SELECT datname FROM pg_database")}
        for name in DATABASES:
            if name not in existing:
                conn.execute(f'CREATE DATABASE "{name}"')
    s3 = boto3.client(
        "s3",
        endpoint_url=f"http://127.0.0.1:{minio.port}",
        aws_access_key_id=minio.access_key.get_secret_value(),
        aws_secret_access_key=minio.secret_key.get_secret_value(),
        region_name="us-east-1",
    )
    have = {b["Name"] for b in s3.list_buckets().get("Buckets", [])}
    for bucket in BUCKETS:
        if bucket not in have:
            s3.create_bucket(Bucket=bucket)

    result = _deploy(api_client, wired_namespace, tmp_path).run()

    assert [(r.service, r.endpoint) for r in result.rows] == [
        ("postgres", f"postgres.{wired_namespace}.svc:5432"),
        ("minio", f"http://minio.{wired_namespace}.svc:9000"),
        ("databases", "iceberg_catalog, demo"),
        ("buckets", "s3://warehouse, s3://staging"),
        ("dashboard", "http://127.0.0.1:8080"),
    ]


def _pg(server: LocalPostgres) -> dict[str, object]:
    return {
        "host": "127.0.0.1",
        "port": server.port,
        "user": server.user,
        "password": server.password.get_secret_value(),
        "dbname": "postgres",
    }
