"""Faults on real pods: a demo Job whose pod, or whose database, is killed mid-run still
leaves each row once.

The Job is the platform's own customer-360 Job (k8s/demo/jobs.yaml, rendered with the
image the platform runs), under another name and writing to a catalog namespace of its
own, so the other e2e tests' data is untouched. Its pod is deleted, without a grace
period, once its log says bronze was committed and before gold; the Job's next pod
carries the same ``DEMO_RUN_ID`` (the Job's uid), so it must replace what the killed
pod wrote. The end state is checked against a recomputation from the seed.
"""

from __future__ import annotations

import copy
import secrets
import urllib.request
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from kubernetes import client as kube
from kubernetes.client.exceptions import ApiException

from demo.cluster import DASHBOARD_NODE_PORT, NAMESPACE, cluster_settings, job_objects
from demo.products import PRODUCTS
from demo.storage import Warehouse
from testing.k8s.wait import wait_for_job, wait_for_statefulset
from testing.polling import TerminalFailure, wait_for_condition
from tests.e2e import demo_content as content

pytestmark = pytest.mark.from_host

PRODUCT = "customer-360"
#: Large enough that the run is still refining silver when the kill lands (seconds, not ms).
SCALE = 100_000
JOB_TIMEOUT_S = 600.0
BRONZE_DONE = f"[{PRODUCT}] bronze done"
GOLD_DONE = f"[{PRODUCT}] gold done"
POSTGRES_POD = "postgres-0"
#: Waiting reasons no wait cures (the image is loaded into the nodes, never pulled).
CANNOT_START = {
    "ErrImageNeverPull",
    "ErrImagePull",
    "ImagePullBackOff",
    "CreateContainerConfigError",
}


def _job(token: str) -> dict[str, Any]:
    job = copy.deepcopy(
        next(j for j in job_objects(SCALE) if j["metadata"]["name"] == f"demo-{PRODUCT}")
    )
    job["metadata"]["name"] = f"demo-fault-{token}"
    (container,) = job["spec"]["template"]["spec"]["containers"]
    container["env"].append({"name": "DEMO_NAMESPACE_SUFFIX", "value": token})
    return job


@pytest.fixture
def fault_job(k8s_client: Any) -> Iterator[dict[str, Any]]:
    """The Job's manifest; the Job and its catalog namespace are removed afterwards."""
    token = secrets.token_hex(3)
    job = _job(token)
    yield job
    batch = kube.BatchV1Api(k8s_client)
    try:
        batch.delete_namespaced_job(
            job["metadata"]["name"], NAMESPACE, propagation_policy="Foreground"
        )
    except ApiException as exc:
        if exc.status != 404:
            raise
    with cluster_settings(k8s_client) as base:
        settings = base.model_copy(update={"namespace_suffix": token})
        cat = content.catalog(settings)
        namespace = Warehouse(settings).namespace(PRODUCTS[PRODUCT].namespace)
        if (namespace,) in cat.list_namespaces():
            for table in cat.list_tables(namespace):
                cat.purge_table(table)
            cat.drop_namespace(namespace)


def _first_pod(core: Any, job_name: str) -> str:
    def running() -> str | None:
        pods = core.list_namespaced_pod(NAMESPACE, label_selector=f"job-name={job_name}").items
        for pod in pods:
            if pod.status.phase in {"Failed", "Succeeded"}:
                raise TerminalFailure(f"pod {pod.metadata.name} ended before the fault")
            for container in pod.status.container_statuses or []:
                waiting = container.state.waiting if container.state else None
                if waiting is not None and waiting.reason in CANNOT_START:
                    raise TerminalFailure(
                        f"pod {pod.metadata.name}: {waiting.reason}: {waiting.message}"
                    )
            if pod.status.phase == "Running":
                return str(pod.metadata.name)
        return None

    return wait_for_condition(running, timeout=180, description=f"a running pod of {job_name}")


def _follow_until(core: Any, pod: str, line: str) -> str:
    """Follow the pod's log (a stream, not a poll: the kill must land right after ``line``)
    and return what it logged up to and including ``line``."""
    stream = core.read_namespaced_pod_log(
        pod, NAMESPACE, follow=True, _preload_content=False, _request_timeout=(10, 180)
    )
    seen: list[str] = []
    try:
        for raw in stream.stream(amt=256, decode_content=True):
            seen.append(raw.decode(errors="replace"))
            text = "".join(seen)
            if GOLD_DONE in text:
                raise AssertionError(f"{pod} reached gold before the fault; raise SCALE")
            if line in text:
                return text
    finally:
        stream.release_conn()
    raise AssertionError(f"{pod}'s log ended without {line!r}:\n{''.join(seen)[-2000:]}")


def _page(url: str) -> None:
    """One GET of the dashboard, which reads the catalog to render: 200 with the product."""
    with urllib.request.urlopen(url, timeout=30) as page:  # noqa: S310  # nosec B310 - loopback
        assert page.status == 200
        assert PRODUCT in page.read().decode()


def _suffix(job: dict[str, Any]) -> str:
    env = job["spec"]["template"]["spec"]["containers"][0]["env"]
    return str(next(e["value"] for e in env if e["name"] == "DEMO_NAMESPACE_SUFFIX"))


def _fault_after_bronze(
    api: Any, job: dict[str, Any], fault: Callable[[str], None], *, fails_the_pod: bool = True
) -> kube.V1Job:
    """Start the Job, apply ``fault`` (given the running pod's name) the moment bronze is
    committed, and return the Job once it completed (after a failed pod, if the fault
    ``fails_the_pod``)."""
    core, batch = kube.CoreV1Api(api), kube.BatchV1Api(api)
    name = job["metadata"]["name"]
    batch.create_namespaced_job(NAMESPACE, job)
    pod = _first_pod(core, name)
    log = _follow_until(core, pod, BRONZE_DONE)
    assert GOLD_DONE not in log
    fault(pod)
    wait_for_job(api, name, NAMESPACE, timeout=JOB_TIMEOUT_S)
    done = batch.read_namespaced_job(name, NAMESPACE)
    assert done.status.succeeded == 1
    if fails_the_pod:
        assert (done.status.failed or 0) >= 1, "no pod failed: the fault missed the run"
    return done


def _assert_the_run_left_each_row_once(api: Any, job: kube.V1Job, suffix: str) -> None:
    uid = str(job.metadata.uid)
    with cluster_settings(api) as base:
        settings = base.model_copy(update={"namespace_suffix": suffix})
        cat = content.catalog(settings)
        namespace = Warehouse(settings).namespace(PRODUCTS[PRODUCT].namespace)
        where = content.recorded_run(cat, namespace, PRODUCT)
        assert where["run_id"] == uid  # the retry kept the Job's run id
        assert where["scale"] == SCALE
        content.assert_each_row_once(cat, **where)
        content.assert_dirty_rows_quarantined(cat, **where)
        content.assert_gold_matches_seed(cat, **where)


@pytest.mark.requirement("DEMO-013")
def test_a_demo_job_whose_pod_is_killed_after_bronze_is_retried_and_leaves_each_row_once(
    k8s_client: Any, fault_job: dict[str, Any]
) -> None:
    core = kube.CoreV1Api(k8s_client)

    def kill(pod: str) -> None:
        core.delete_namespaced_pod(pod, NAMESPACE, grace_period_seconds=0)

    done = _fault_after_bronze(k8s_client, fault_job, kill)
    _assert_the_run_left_each_row_once(k8s_client, done, _suffix(fault_job))


@pytest.mark.requirement("DEMO-014")
def test_postgresql_killed_during_a_demo_job_the_run_finishes_with_each_row_once(
    k8s_client: Any, fault_job: dict[str, Any], cluster: Any
) -> None:
    """The catalog's database pod is deleted right after bronze was committed (SIGINT,
    PostgreSQL's fast shutdown); the StatefulSet brings it back on the same volume. The
    run then finishes, in the same pod when its next commits find the database back
    (SQLAlchemy reconnects), or in the Job's next pod with the same run id; either way
    every row is there once. PostgreSQL is Ready again for the tests after this one, and
    the dashboard's very next page, which reads the catalog, is served (its pooled
    connection to the old server is replaced, not used)."""
    core = kube.CoreV1Api(k8s_client)
    before = core.read_namespaced_pod(POSTGRES_POD, NAMESPACE).metadata.uid
    url = f"{cluster.dashboard_url(DASHBOARD_NODE_PORT)}/"
    _page(url)  # the dashboard now holds a pooled connection to this PostgreSQL

    def kill_postgres(pod: str) -> None:
        del pod
        # Deleted as `kubectl delete pod` does, with its grace period: a forced deletion
        # (grace 0) lets the StatefulSet start a second PostgreSQL on the same volume
        # before the first has stopped, which Kubernetes documents as unsafe (it corrupted
        # the data directory here when tried).
        core.delete_namespaced_pod(POSTGRES_POD, NAMESPACE)

    try:
        done = _fault_after_bronze(k8s_client, fault_job, kill_postgres, fails_the_pod=False)
    finally:
        wait_for_statefulset(k8s_client, "postgres", NAMESPACE, timeout=JOB_TIMEOUT_S)
    assert core.read_namespaced_pod(POSTGRES_POD, NAMESPACE).metadata.uid != before
    _assert_the_run_left_each_row_once(k8s_client, done, _suffix(fault_job))
    _page(url)  # served on the first try, through a new connection to the new server
