"""The images keep the contract that k8s/platform relies on, whichever source made them.

Each test takes the pod template straight from the platform's manifest (PostgreSQL's and
MinIO's StatefulSets, the minio-init Job), gives it a generated credential instead of
the Secret, an emptyDir for its claim, and the image the deployed platform runs (built
here, or the pinned official one), and runs it alone in a fresh namespace. So the
contract under test is exactly what the manifests use: environment variables, user id,
data directory, port, command, health endpoints. Each has a twin with a wrong password
that must be refused: nothing listens unauthenticated.
"""

from __future__ import annotations

import copy
import secrets
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client as k8s_client

from testing import pins
from tests.e2e import pods

pytestmark = pytest.mark.from_host

PLATFORM = "ktp-platform"
PLATFORM_DIR = pins.REPO_ROOT / "k8s" / "platform"
USER = "contract"


def _objects(path: Path) -> dict[tuple[str, str], dict[str, Any]]:
    return {
        (doc["kind"], doc["metadata"]["name"]): doc
        for doc in yaml.safe_load_all(path.read_text(encoding="utf-8"))
        if doc
    }


def _pod_from(
    workload: dict[str, Any], name: str, image: str, literals: dict[str, str]
) -> dict[str, Any]:
    """The workload's pod template as a bare pod: literal credentials, emptyDir claims."""
    spec = copy.deepcopy(workload["spec"]["template"]["spec"])
    spec.pop("serviceAccountName", None)  # the fresh namespace has only `default`
    spec["automountServiceAccountToken"] = False
    spec["restartPolicy"] = "Never"
    (container,) = spec["containers"]
    container["image"] = image
    for var in container.get("env", []):
        if "valueFrom" in var:
            del var["valueFrom"]
            var["value"] = literals[var["name"]]
    volumes = {v["name"] for v in spec.get("volumes", [])}
    for mount in container.get("volumeMounts", []):
        if mount["name"] not in volumes:  # from volumeClaimTemplates
            spec.setdefault("volumes", []).append({"name": mount["name"], "emptyDir": {}})
            volumes.add(mount["name"])
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": spec}


def _deployed_image(api: Any, kind: str, name: str) -> str:
    """The image the deployed platform runs for ``kind/name`` (built or pinned)."""
    read = {
        "StatefulSet": k8s_client.AppsV1Api(api).read_namespaced_stateful_set,
        "Job": k8s_client.BatchV1Api(api).read_namespaced_job,
    }[kind]
    return str(read(name, PLATFORM).spec.template.spec.containers[0].image)


@pytest.fixture
def core(api_client: Any) -> k8s_client.CoreV1Api:
    return k8s_client.CoreV1Api(api_client)


@pytest.fixture
def password() -> str:
    return secrets.token_hex(16)


@pytest.mark.requirement("IMG-001")
def test_postgres_image_serves_the_manifests_user_database_data_dir_and_port(
    core: Any, api_client: Any, namespace: str, password: str
) -> None:
    statefulset = _objects(PLATFORM_DIR / "postgres.yaml")[("StatefulSet", "postgres")]
    image = _deployed_image(api_client, "StatefulSet", "postgres")
    manifest = _pod_from(
        statefulset,
        "postgres-contract",
        image,
        {"POSTGRES_USER": USER, "POSTGRES_PASSWORD": password},
    )
    pods.start(core, namespace, manifest, ready=True)  # the manifest's pg_isready probe
    query = (
        "select current_user, current_database(), current_setting('data_directory'), "
        "current_setting('port'), usesuper from pg_user where usename = current_user"
    )
    sql = ["psql", "--no-psqlrc", "--host=127.0.0.1", f"--username={USER}", "-tA", "-c", query]
    # The password comes from the container's own environment, not from this argv.
    as_user = ["sh", "-c", 'PGPASSWORD="$POSTGRES_PASSWORD" exec "$@"', "sh", *sql]
    with_wrong = ["sh", "-c", 'PGPASSWORD=wrong exec "$@"', "sh", *sql]
    assert pods.run(core, namespace, "postgres-contract", as_user) == (
        f"{USER}|{USER}|/var/lib/postgresql/data/pgdata|5432|t"
    )
    assert pods.run(core, namespace, "postgres-contract", ["id", "-u"]) == "999"
    refused = pods.run(core, namespace, "postgres-contract", with_wrong)
    assert f'password authentication failed for user "{USER}"' in refused


@pytest.mark.requirement("IMG-002")
def test_minio_and_mc_images_serve_and_create_buckets_as_the_manifests_ask(
    core: Any, api_client: Any, namespace: str, password: str
) -> None:
    statefulset = _objects(PLATFORM_DIR / "minio.yaml")[("StatefulSet", "minio")]
    job = _objects(PLATFORM_DIR / "minio-init-job.yaml")[("Job", "minio-init")]
    credentials = {"MINIO_ROOT_USER": USER, "MINIO_ROOT_PASSWORD": password}
    server = pods.start(
        core,
        namespace,
        _pod_from(
            statefulset,
            "minio-contract",
            _deployed_image(api_client, "StatefulSet", "minio"),
            credentials,
        ),
        ready=True,  # the manifest's readiness probe: GET /minio/health/ready
    )
    mc_image = _deployed_image(api_client, "Job", "minio-init")

    def init_pod(name: str, secret: str) -> dict[str, Any]:
        pod = _pod_from(job, name, mc_image, {**credentials, "MINIO_ROOT_PASSWORD": secret})
        for var in pod["spec"]["containers"][0]["env"]:
            if var["name"] == "MC_HOST_platform":  # the Service name -> this pod's address
                var["value"] = var["value"].replace("@minio:9000", f"@{server.status.pod_ip}:9000")
        return pod

    phase, log = pods.finish(core, namespace, init_pod("mc-contract", password))
    assert phase == "Succeeded", log
    assert "Bucket created successfully `platform/warehouse`." in log
    assert "Bucket created successfully `platform/staging`." in log
    phase, log = pods.finish(core, namespace, init_pod("mc-wrong-password", "wrong-password"))
    assert phase == "Failed", log
    assert "The request signature we calculated does not match" in log, log
