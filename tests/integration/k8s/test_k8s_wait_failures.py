"""Fail-fast: a pod that can never become ready ends the wait at once, with the reason.

Planted failures (see k8s_support): a non-zero exit and a failed Job come from
kwok's chaos stage; an unschedulable pod from the real kube-scheduler;
CrashLoopBackOff and ImagePullBackOff are reported through the pods/status
subresource the way a kubelet reports them (kwok's stages do not produce them),
for pods bound to a node no kwok controller manages. Everything the wait sees
arrives through the real API server's watch.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
from k8s_support import (
    KWOK_FAIL_EXIT_CODE,
    KWOK_FAIL_LABEL,
    KWOK_FAIL_MESSAGE,
    UNMANAGED_NODE,
    apply_one,
    deployment_manifest,
    force_delete_pods,
    pod_manifest,
    report_container_waiting,
)
from kubernetes import client as k8s
from kubernetes.client import ApiClient

from testing.k8s.wait import WaitFailedError, wait_for_deployment, wait_for_job, wait_for_pod
from testing.polling import wait_for_condition

TIMEOUT = 90
FAST = 30  # far below TIMEOUT: the wait stopped on the failure, not on the deadline


def one_line(error: BaseException) -> str:
    text = str(error)
    assert "\n" not in text
    return text


@pytest.fixture
def unmanaged(k8s_client: ApiClient, namespace: str) -> Iterator[str]:
    """The test's namespace; pods bound to the unmanaged node are force-deleted after."""
    yield namespace
    force_delete_pods(k8s_client, namespace)


def first_pod(api: ApiClient, namespace: str, selector: str) -> str:
    def found() -> str:
        pods = k8s.CoreV1Api(api).list_namespaced_pod(namespace, label_selector=selector).items
        return pods[0].metadata.name if pods else ""

    return wait_for_condition(found, timeout=30, description=f"a pod {selector} to exist")


@pytest.mark.requirement("K8S-005")
def test_crashloop_seen_by_the_watch_ends_a_deployment_wait(
    k8s_client: ApiClient, unmanaged: str
) -> None:
    apply_one(k8s_client, unmanaged, deployment_manifest("crash", nodeName=UNMANAGED_NODE))
    pod = first_pod(k8s_client, unmanaged, "app=crash")
    timer = threading.Timer(
        1.0,
        report_container_waiting,
        args=(
            k8s_client,
            unmanaged,
            pod,
            "CrashLoopBackOff",
            "back-off 40s restarting failed container=app",
        ),
        kwargs={"phase": "Running"},
    )
    started = time.monotonic()
    timer.start()
    try:
        with pytest.raises(WaitFailedError) as caught:
            wait_for_deployment(k8s_client, "crash", unmanaged, timeout=TIMEOUT)
    finally:
        timer.join()
    assert time.monotonic() - started < FAST
    assert one_line(caught.value) == (
        f"deployment {unmanaged}/crash to roll out: failed after "
        f"{caught.value.elapsed:.2f}s and {caught.value.attempts} attempt(s): "
        f"pod {unmanaged}/{pod} container app: CrashLoopBackOff: "
        "back-off 40s restarting failed container=app"
    )
    assert caught.value.failure.reason == "CrashLoopBackOff"


@pytest.mark.requirement("K8S-005")
def test_image_pull_backoff_already_there_ends_the_wait_at_once(
    k8s_client: ApiClient, unmanaged: str
) -> None:
    apply_one(k8s_client, unmanaged, pod_manifest("pull", nodeName=UNMANAGED_NODE))
    report_container_waiting(
        k8s_client,
        unmanaged,
        "pull",
        "ImagePullBackOff",
        'Back-off pulling image "registry.invalid/app:1.0"',
    )
    started = time.monotonic()
    with pytest.raises(WaitFailedError) as caught:
        wait_for_pod(k8s_client, "pull", unmanaged, timeout=TIMEOUT)
    assert time.monotonic() - started < 5
    assert one_line(caught.value).endswith(
        f"pod {unmanaged}/pull container app: ImagePullBackOff: "
        'Back-off pulling image "registry.invalid/app:1.0"'
    )


@pytest.mark.requirement("K8S-005")
def test_container_exit_code_from_kwok_chaos_ends_the_wait(
    k8s_client: ApiClient, namespace: str
) -> None:
    """The pod starts, turns Ready, then its container exits 3 (kwok's chaos stage).

    ``minReadySeconds`` keeps the rollout incomplete long enough for the exit to
    come first, as with a server that crashes shortly after start.
    """
    manifest = deployment_manifest("exits", pod_labels={KWOK_FAIL_LABEL: "true"})
    manifest["spec"]["minReadySeconds"] = 60
    manifest["spec"]["template"]["metadata"]["annotations"] = {
        KWOK_FAIL_EXIT_CODE: "3",
        KWOK_FAIL_MESSAGE: "the migration found no schema",
    }
    apply_one(k8s_client, namespace, manifest)
    started = time.monotonic()
    with pytest.raises(WaitFailedError) as caught:
        wait_for_deployment(k8s_client, "exits", namespace, timeout=TIMEOUT)
    assert time.monotonic() - started < FAST
    assert caught.value.failure.subject.startswith(f"pod {namespace}/exits-")
    assert caught.value.failure.subject.endswith(" container app")
    assert caught.value.failure.reason.startswith("terminated with exit code 3")
    assert one_line(caught.value).endswith("the migration found no schema")


@pytest.mark.requirement("K8S-005")
def test_failed_job_ends_the_wait_with_the_job_controller_reason(
    k8s_client: ApiClient, namespace: str
) -> None:
    pod = pod_manifest("migrate", labels={KWOK_FAIL_LABEL: "true"}, restartPolicy="Never")
    job = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": "migrate"},
        "spec": {
            "backoffLimit": 0,
            "template": {"metadata": {"labels": pod["metadata"]["labels"]}, "spec": pod["spec"]},
        },
    }
    apply_one(k8s_client, namespace, job)
    started = time.monotonic()
    with pytest.raises(WaitFailedError) as caught:
        wait_for_job(k8s_client, "migrate", namespace, timeout=TIMEOUT)
    assert time.monotonic() - started < FAST
    assert caught.value.failure.subject == f"job {namespace}/migrate"
    assert caught.value.failure.reason == "BackoffLimitExceeded"


@pytest.mark.requirement("K8S-005")
def test_unschedulable_pod_ends_the_wait_with_the_scheduler_message(
    k8s_client: ApiClient, namespace: str
) -> None:
    apply_one(
        k8s_client, namespace, pod_manifest("nowhere", nodeSelector={"ktp.test/no-such-node": "x"})
    )
    with pytest.raises(WaitFailedError) as caught:
        wait_for_pod(k8s_client, "nowhere", namespace, timeout=TIMEOUT)
    assert caught.value.failure.reason == "Unschedulable"
    assert "didn't match Pod's node affinity/selector" in one_line(caught.value)
