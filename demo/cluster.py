"""``python -m demo.cluster``: run the three products as Jobs in the test cluster.

The host-side half of ``nox -s demo`` (after ``deploy``): apply k8s/demo/jobs.yaml with
``DEMO_SEED_SCALE`` from this environment, replacing finished Jobs of the same name
(a Job's pod template is immutable, so a re-run needs a new object), wait for all
three (a failed pod ends the wait at once), then read the catalog through
port-forwards and print the summary table and the dashboard URL. Everything stays up.

This module uses ``testing.k8s`` (demo may import testing; never the reverse) and is
not part of the demo image, which needs only the pipeline.
"""

from __future__ import annotations

import base64
import contextlib
import os
import sys
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote

from kubernetes import client as k8s_client
from kubernetes.client.exceptions import ApiException
from pydantic import SecretStr

from demo.config import DEFAULT_SCALE, DemoSettings
from demo.errors import DemoError
from demo.products import PRODUCTS
from demo.status import collect
from demo.storage import Warehouse
from testing.cluster import ClusterError, get_provider
from testing.k8s.apply import apply_objects, load_manifests
from testing.k8s.client import api_client
from testing.k8s.objects import K8sError
from testing.k8s.port_forward import port_forward
from testing.k8s.wait import wait_for_job
from testing.platform import PlatformError, platform_namespace
from testing.platform.manifests import image_map, render
from testing.polling import ConditionFailedError, WaitTimeoutError, wait_for_condition

JOBS_FILE = Path(__file__).resolve().parents[1] / "k8s" / "demo" / "jobs.yaml"
NAMESPACE = platform_namespace()
DASHBOARD_NODE_PORT = 30080
JOB_TIMEOUT_S = 900.0


def job_objects(
    scale: int, path: Path = JOBS_FILE, images: Mapping[str, str] | None = None
) -> list[dict[str, Any]]:
    """The Job manifests with ``DEMO_SEED_SCALE`` set to ``scale`` in every container, and
    their image rendered like the platform's (``DEMO_IMAGE``, or the chosen source's)."""
    jobs = render(load_manifests([path]), image_map() if images is None else images)
    for job in jobs:
        if job.get("kind") != "Job":
            raise DemoError(f"{path}: expected only Jobs, found {job.get('kind')}")
        for container in job["spec"]["template"]["spec"]["containers"]:
            env = [e for e in container.get("env", []) if e["name"] != "DEMO_SEED_SCALE"]
            container["env"] = [{"name": "DEMO_SEED_SCALE", "value": str(scale)}, *env]
    return jobs


def _replace_finished(api: k8s_client.ApiClient, names: Sequence[str]) -> None:
    batch = k8s_client.BatchV1Api(api)
    for name in names:
        with contextlib.suppress(ApiException):
            batch.delete_namespaced_job(name, NAMESPACE, propagation_policy="Foreground")

    def gone() -> bool:
        for name in names:
            try:
                batch.read_namespaced_job(name, NAMESPACE)
            except ApiException as exc:
                if exc.status == 404:
                    continue
                raise
            return False
        return True

    wait_for_condition(gone, timeout=120, description="old demo Jobs to be deleted")


def _secret(api: k8s_client.ApiClient, name: str) -> dict[str, str]:
    data = k8s_client.CoreV1Api(api).read_namespaced_secret(name, NAMESPACE).data or {}
    return {k: base64.b64decode(v).decode() for k, v in data.items()}


@contextlib.contextmanager
def cluster_settings(api: k8s_client.ApiClient) -> Iterator[DemoSettings]:
    """Settings that reach the in-cluster catalog and MinIO through port-forwards."""
    pg, minio = _secret(api, "postgres-credentials"), _secret(api, "minio-credentials")
    with (
        port_forward(api, NAMESPACE, "svc/postgres", 5432) as pg_port,
        port_forward(api, NAMESPACE, "svc/minio", 9000) as s3_port,
    ):
        yield DemoSettings(
            ICEBERG_CATALOG_URL=SecretStr(
                f"postgresql+psycopg2://{quote(pg['username'], safe='')}:"
                f"{quote(pg['password'], safe='')}@127.0.0.1:{pg_port}/iceberg_catalog"
            ),
            DEMO_WAREHOUSE="s3://warehouse/demo",
            S3_ENDPOINT_URL=f"http://127.0.0.1:{s3_port}",
            AWS_ACCESS_KEY_ID=SecretStr(minio["root-user"]),
            AWS_SECRET_ACCESS_KEY=SecretStr(minio["root-password"]),
        )


def summary_lines(rows: Sequence[Mapping[str, str]]) -> list[str]:
    header = {"product": "product", "table": "table", "rows": "rows", "snapshot": "snapshot"}
    table = [header, *rows]
    widths = {k: max(len(r[k]) for r in table) for k in header}
    return ["  ".join(r[k].ljust(widths[k]) for k in header).rstrip() for r in table]


def run(scale: int) -> list[str]:
    provider = get_provider()
    if not provider.runs_containers:
        raise DemoError(
            f"the {provider.name} cluster runs no containers, so the demo Jobs would do nothing: "
            "use TEST_CLUSTER_PROVIDER=kind or existing, or `python -m demo run` locally"
        )
    if not provider.exists():
        raise DemoError("no test cluster: run `nox -s deploy` (or `nox -s demo`) first")
    api = api_client(provider.kubeconfig_path())
    jobs = job_objects(scale)
    names = [str(j["metadata"]["name"]) for j in jobs]
    print(f"demo: running {', '.join(names)} at scale {scale}", file=sys.stderr, flush=True)
    _replace_finished(api, names)
    apply_objects(api, jobs, namespace=NAMESPACE)
    for name in names:
        wait_for_job(api, name, NAMESPACE, timeout=JOB_TIMEOUT_S)
        print(f"demo: job {name} complete", file=sys.stderr, flush=True)
    with cluster_settings(api) as settings:
        statuses = collect(Warehouse(settings), list(PRODUCTS.values()))
    rows = [
        {
            "product": s.name,
            "table": t.identifier,
            "rows": str(t.rows),
            "snapshot": str(t.snapshot_id),
        }
        for s in statuses
        for t in s.tables
    ]
    url = os.environ.get("DEMO_DASHBOARD_URL") or provider.dashboard_url(DASHBOARD_NODE_PORT)
    return [*summary_lines(rows), "", f"dashboard: {url}/"]


def main() -> int:
    try:
        scale = int(os.environ.get("DEMO_SEED_SCALE", DEFAULT_SCALE))
    except ValueError:
        print("error: DEMO_SEED_SCALE must be a whole number", file=sys.stderr)
        return 1
    try:
        print("\n".join(run(scale)))
    except (
        DemoError,
        ClusterError,
        K8sError,
        PlatformError,
        WaitTimeoutError,
        ConditionFailedError,
    ) as exc:
        print(f"error: {str(exc).splitlines()[0]}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(
            "interrupted (the Jobs keep running; `nox -s down` removes everything)", file=sys.stderr
        )
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
