"""Fail-fast: a pod that can never become ready ends the wait at once, with the reason.

Planted failures (see k8s_support): a non-zero exit and a failed Job come from
kwok's chaos stage; CrashLoopBackOff and ImagePullBackOff from the project's kwok
stages (``k8s/kwok/stages``), written by the kwok controller as a kubelet would
write them; an unschedulable pod from the real kube-scheduler. No test writes a
status itself, and everything the wait sees arrives through the real API server.
"""

from __future__ import annotations

import time

import pytest
from k8s_support import (
    CRASHLOOP_LABEL,
    IMAGE_PULL_BACKOFF_LABEL,
    KWOK_FAIL_EXIT_CODE,
    KWOK_FAIL_LABEL,
    KWOK_FAIL_MESSAGE,
    WatchRequests,
    apply_one,
    deployment_manifest,
    pod_manifest,
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


def waiting_reason(api: ApiClient, namespace: str, pod: str) -> str:
    """The first container's waiting reason ("" while it has none)."""
    statuses = k8s.CoreV1Api(api).read_namespaced_pod(pod, namespace).status.container_statuses
    waiting = statuses[0].state.waiting if statuses else None
    return str(waiting.reason) if waiting is not None else ""


@pytest.mark.requirement("K8S-005")
def test_crashloop_seen_by_the_watch_ends_a_deployment_wait(
    k8s_client: ApiClient, namespace: str
) -> None:
    """The Deployment is created only once the wait watches pods: the crash loop that
    kwok then reports can reach the wait through the watch alone."""
    watching = WatchRequests(k8s_client, "pods")
    manifest = deployment_manifest("crash", pod_labels={CRASHLOOP_LABEL: "true"})
    started = time.monotonic()
    with (
        watching.once_watching(lambda: apply_one(k8s_client, namespace, manifest)),
        pytest.raises(WaitFailedError) as caught,
    ):
        wait_for_deployment(watching.api, "crash", namespace, timeout=TIMEOUT)
    assert time.monotonic() - started < FAST
    pod = caught.value.failure.subject.split("/")[1].split(" ")[0]
    assert pod.startswith("crash-")
    assert one_line(caught.value) == (
        f"deployment {namespace}/crash to roll out: failed after "
        f"{caught.value.elapsed:.2f}s and {caught.value.attempts} attempt(s): "
        f"pod {namespace}/{pod} container app: CrashLoopBackOff: "
        "back-off 40s restarting failed container=app"
    )
    assert caught.value.failure.reason == "CrashLoopBackOff"


@pytest.mark.requirement("K8S-005")
def test_image_pull_backoff_already_there_ends_the_wait_at_once(
    k8s_client: ApiClient, namespace: str
) -> None:
    """kwok has reported ImagePullBackOff before the wait starts: its first list ends it."""
    apply_one(
        k8s_client, namespace, pod_manifest("pull", labels={IMAGE_PULL_BACKOFF_LABEL: "true"})
    )
    wait_for_condition(
        lambda: waiting_reason(k8s_client, namespace, "pull") == "ImagePullBackOff",
        timeout=60,
        description="kwok to report ImagePullBackOff for pod pull",
    )
    with pytest.raises(WaitFailedError) as caught:
        wait_for_pod(k8s_client, "pull", namespace, timeout=TIMEOUT)
    assert caught.value.attempts == 1  # decided on the first list, not on a later event
    assert one_line(caught.value).endswith(
        f"pod {namespace}/pull container app: ImagePullBackOff: "
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
