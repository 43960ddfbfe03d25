"""Watch-based waits against the real API server and kwok-simulated pods."""

from __future__ import annotations

import threading
import time

import pytest
from k8s_support import WatchRequests, apply_one, deployment_manifest, pod_manifest
from kubernetes import client as k8s
from kubernetes.client import ApiClient

from testing.k8s.objects import ObjectRef
from testing.k8s.wait import (
    wait_for_deployment,
    wait_for_job,
    wait_for_pod,
    wait_for_pods_ready,
    wait_for_ready,
    wait_for_statefulset,
)
from testing.polling import WaitTimeoutError


@pytest.mark.requirement("K8S-003")
def test_deployment_rollout_and_a_rolling_update_are_awaited(
    k8s_client: ApiClient, namespace: str
) -> None:
    apply_one(k8s_client, namespace, deployment_manifest("web", replicas=3))
    wait_for_deployment(k8s_client, "web", namespace, timeout=60)
    apps = k8s.AppsV1Api(k8s_client)
    status = apps.read_namespaced_deployment("web", namespace).status
    assert (status.ready_replicas, status.available_replicas, status.updated_replicas) == (3, 3, 3)
    update = deployment_manifest("web", replicas=3, pod_labels={"version": "2"})
    apply_one(k8s_client, namespace, update)
    wait_for_deployment(k8s_client, "web", namespace, timeout=60)
    pods = k8s.CoreV1Api(k8s_client).list_namespaced_pod(namespace, label_selector="app=web")
    live = [p for p in pods.items if p.metadata.deletion_timestamp is None]
    assert sorted(p.metadata.labels.get("version") for p in live) == ["2", "2", "2"]


@pytest.mark.requirement("K8S-003")
def test_statefulset_and_job_and_pods_are_awaited(k8s_client: ApiClient, namespace: str) -> None:
    pod = pod_manifest("db")
    sts = {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {"name": "db"},
        "spec": {
            "replicas": 2,
            "serviceName": "db",
            "selector": {"matchLabels": {"app": "db"}},
            "template": {"metadata": {"labels": {"app": "db"}}, "spec": pod["spec"]},
        },
    }
    job = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": "once"},
        "spec": {"template": {"spec": {**pod_manifest("once")["spec"], "restartPolicy": "Never"}}},
    }
    objects = [apply_one(k8s_client, namespace, sts), apply_one(k8s_client, namespace, job)]
    wait_for_statefulset(k8s_client, "db", namespace, timeout=60)
    wait_for_job(k8s_client, "once", namespace, timeout=60)
    wait_for_ready(k8s_client, objects, timeout=60)
    assert wait_for_pods_ready(k8s_client, namespace, "app=db", timeout=30, min_count=2) == [
        "db-0",
        "db-1",
    ]
    done = k8s.BatchV1Api(k8s_client).read_namespaced_job("once", namespace).status
    assert done.succeeded == 1


@pytest.mark.requirement("K8S-004")
def test_a_pod_created_while_the_wait_watches_is_seen_through_the_watch(
    k8s_client: ApiClient, namespace: str
) -> None:
    """The pod is created only once the wait has listed and sent its watch request, so
    only a watch event can tell the wait about it; the wait returns with its name."""
    watching = WatchRequests(k8s_client, "pods")
    with watching.once_watching(lambda: apply_one(k8s_client, namespace, pod_manifest("late"))):
        names = wait_for_pods_ready(watching.api, namespace, "app=late", timeout=60)
    assert names == ["late"]


@pytest.mark.requirement("K8S-004")
def test_timeout_names_what_it_waited_for_and_never_overruns(
    k8s_client: ApiClient, namespace: str
) -> None:
    """It waits out its whole timeout, then stops: the bound allows for a busy machine,
    and is far below the server's own watch timeout, which a stuck wait would reach."""
    started = time.monotonic()
    with pytest.raises(WaitTimeoutError) as caught:
        wait_for_pods_ready(k8s_client, namespace, "app=nothing", timeout=1.5)
    elapsed = time.monotonic() - started
    assert 1.5 <= caught.value.elapsed <= elapsed < 1.5 + 10
    assert f"pods 'app=nothing' in {namespace} to be ready" in str(caught.value)
    assert "0/1 pods ready" in str(caught.value)


@pytest.mark.requirement("K8S-004")
def test_wait_for_ready_skips_kinds_without_readiness(
    k8s_client: ApiClient, namespace: str
) -> None:
    config = apply_one(
        k8s_client, namespace, {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}}
    )
    started = time.monotonic()
    wait_for_ready(k8s_client, [config, ObjectRef("v1", "Namespace", namespace)], timeout=10)
    assert time.monotonic() - started < 5


@pytest.mark.requirement("K8S-004")
def test_a_finished_wait_leaves_no_watch_thread_running(
    k8s_client: ApiClient, namespace: str
) -> None:
    """The second wait is done on its first list, while its watch request may still be on
    the way: it must still see that thread end. A thread left in a TLS read made short CLIs
    (deploy) abort at interpreter exit, exit 134, about one run in three."""
    apply_one(k8s_client, namespace, pod_manifest("steady"))
    wait_for_pod(k8s_client, "steady", namespace, timeout=60)
    wait_for_pod(k8s_client, "steady", namespace, timeout=60)
    assert [t.name for t in threading.enumerate() if t.name.startswith("watch-")] == []
