"""Deploy's protocol checks on kwok: a Ready pod is not trusted, a real query decides.

Deploy is told the cluster runs containers (``runs_containers=True``) although kwok
runs none, so it checks each service by its protocol through a port-forward via the
API server; a ``ClusterPortForward`` makes kwok answer those port-forwards by
dialling a real local PostgreSQL and MinIO (``testing.services.local``), so every
byte travels client -> API server -> kwok -> server. kwok completes the init Jobs
without running them, so the databases they should have made are missing, and only
the real query can tell. The Secrets hold the local servers' credentials (deploy
keeps any existing Secret).

That deploy reports healthy on what the real init Jobs made, with the real
dashboard, is proven on real pods: ``tests/e2e/test_deploy_checks.py``.
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest
from kubernetes import client as kube

from testing.platform import PlatformError
from testing.platform.deploy import Deployer
from testing.platform.health import DATABASES
from testing.platform.volumes import delete_simulated_volumes
from testing.services.local import LocalMinio, LocalPostgres


@pytest.fixture(scope="module")
def servers() -> Iterator[tuple[LocalPostgres, LocalMinio]]:
    postgres, minio = LocalPostgres(), LocalMinio()
    try:
        postgres.start()
        minio.start()
        yield postgres, minio
    finally:
        minio.stop()
        postgres.stop()


@pytest.fixture
def wired_namespace(
    namespace_factory: Callable[[str], str],
    api_client: kube.ApiClient,
    servers: tuple[LocalPostgres, LocalMinio],
) -> Iterator[str]:
    """A namespace whose pods' ports kwok forwards to the local servers."""
    postgres, minio = servers
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
    targets = {5432: postgres.port, 9000: minio.port}
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
    servers: tuple[LocalPostgres, LocalMinio],
    wired_namespace: str,
    tmp_path: Path,
) -> None:
    """The simulated init Jobs complete but create nothing: only a real query can tell."""
    postgres, _ = servers
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


def _pg(server: LocalPostgres) -> dict[str, object]:
    return {
        "host": "127.0.0.1",
        "port": server.port,
        "user": server.user,
        "password": server.password.get_secret_value(),
        "dbname": "postgres",
    }
