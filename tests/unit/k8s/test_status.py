"""The rules that decide done / not yet / never for waits, on recorded object shapes."""

from __future__ import annotations

from typing import Any

import pytest

from testing.k8s import status

SELECTOR = {"matchLabels": {"app": "web"}}


def pod(name: str = "web-1", *, ready: bool = True, **status_fields: Any) -> dict[str, Any]:
    conditions = [{"type": "Ready", "status": "True" if ready else "False"}]
    return {
        "metadata": {"name": name, "namespace": "ns", "labels": {"app": "web"}},
        "status": {"phase": "Running", "conditions": conditions, **status_fields},
    }


def waiting(reason: str, message: str = "") -> dict[str, Any]:
    return {"name": "app", "state": {"waiting": {"reason": reason, "message": message}}}


def deployment(want: int = 2, generation: int = 1, **status_fields: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": "web", "namespace": "ns", "generation": generation},
        "spec": {"replicas": want, "selector": SELECTOR},
        "status": {"observedGeneration": 1, **status_fields},
    }


@pytest.mark.parametrize(
    "reason", ["CrashLoopBackOff", "ImagePullBackOff", "ErrImagePull", "CreateContainerConfigError"]
)
def test_terminal_waiting_reasons_fail_with_pod_container_and_message(reason: str) -> None:
    failure = status.pod_failure(pod(containerStatuses=[waiting(reason, "back-off 10s")]))
    assert failure is not None
    assert str(failure) == f"pod ns/web-1 container app: {reason}: back-off 10s"


def test_container_creating_is_not_terminal() -> None:
    assert status.pod_failure(pod(containerStatuses=[waiting("ContainerCreating")])) is None


def test_nonzero_exit_is_terminal_but_left_to_the_job_controller_for_job_pods() -> None:
    exited = pod(
        containerStatuses=[
            {"name": "app", "state": {"terminated": {"exitCode": 3, "reason": "Error"}}}
        ]
    )
    failure = status.pod_failure(exited)
    assert failure is not None
    assert failure.reason == "terminated with exit code 3 (Error)"
    assert status.pod_failure(exited, retried_by_controller=True) is None


def test_unschedulable_pod_is_terminal_with_the_scheduler_message() -> None:
    pending = {
        "metadata": {"name": "p", "namespace": "ns"},
        "status": {
            "phase": "Pending",
            "conditions": [
                {
                    "type": "PodScheduled",
                    "status": "False",
                    "reason": "Unschedulable",
                    "message": "0/1 nodes are available",
                }
            ],
        },
    }
    assert str(status.pod_failure(pending)) == "pod ns/p: Unschedulable: 0/1 nodes are available"


def test_deployment_done_only_when_every_count_matches() -> None:
    partial = deployment(replicas=2, updatedReplicas=2, readyReplicas=1, availableReplicas=1)
    verdict = status.deployment_verdict(partial, {})
    assert verdict == status.Verdict(False, "2/2 updated, 1/2 ready, 1/2 available, 2 total")
    full = deployment(replicas=2, updatedReplicas=2, readyReplicas=2, availableReplicas=2)
    assert status.deployment_verdict(full, {}) == status.Verdict(
        True, "2/2 updated, 2/2 ready, 2/2 available, 2 total"
    )


def test_deployment_with_old_replicas_left_is_not_done() -> None:
    rolling = deployment(replicas=3, updatedReplicas=2, readyReplicas=2, availableReplicas=2)
    assert status.deployment_verdict(rolling, {}) == status.Verdict(
        False, "2/2 updated, 2/2 ready, 2/2 available, 3 total"
    )


def test_deployment_waits_for_the_controller_to_observe_the_new_generation() -> None:
    stale = deployment(
        generation=2, replicas=2, updatedReplicas=2, readyReplicas=2, availableReplicas=2
    )
    verdict = status.deployment_verdict(stale, {})
    assert isinstance(verdict, status.Verdict)
    assert not verdict.done
    assert "generation 2" in verdict.progress


def test_deployment_fails_on_a_selected_crashing_pod_and_ignores_unselected_ones() -> None:
    crashing = pod(containerStatuses=[waiting("CrashLoopBackOff")])
    other = {**crashing, "metadata": {"name": "x", "namespace": "ns", "labels": {"app": "db"}}}
    assert status.deployment_verdict(deployment(), {"x": other}) == status.Verdict(
        False, "0/2 updated, 0/2 ready, 0/2 available, 0 total"
    )
    failure = status.deployment_verdict(deployment(), {"web-1": crashing})
    assert isinstance(failure, status.Failure)
    assert failure.subject == "pod ns/web-1 container app"


def test_deployment_ignores_an_old_replica_exiting_because_it_is_being_deleted() -> None:
    exited = [{"name": "app", "state": {"terminated": {"exitCode": 143, "reason": "Error"}}}]
    old = pod("web-old", ready=False, phase="Failed", containerStatuses=exited)
    old["metadata"]["deletionTimestamp"] = "2025-01-01T00:00:00Z"
    rolling = deployment(replicas=3, updatedReplicas=2, readyReplicas=2, availableReplicas=2)
    assert status.deployment_verdict(rolling, {"web-old": old}) == status.Verdict(
        False, "2/2 updated, 2/2 ready, 2/2 available, 3 total"
    )
    del old["metadata"]["deletionTimestamp"]  # the same pod, not being deleted, is a failure
    failure = status.deployment_verdict(rolling, {"web-old": old})
    assert isinstance(failure, status.Failure)
    assert failure.reason == "terminated with exit code 143 (Error)"


def test_deployment_progress_deadline_is_terminal() -> None:
    stuck = deployment(
        conditions=[
            {
                "type": "Progressing",
                "status": "False",
                "reason": "ProgressDeadlineExceeded",
                "message": "ReplicaSet web-1 has timed out progressing.",
            }
        ]
    )
    failure = status.deployment_verdict(stuck, {})
    assert str(failure) == (
        "deployment ns/web: ProgressDeadlineExceeded: ReplicaSet web-1 has timed out progressing."
    )


def test_job_complete_failed_and_running() -> None:
    job = {"metadata": {"name": "j", "namespace": "ns"}, "spec": {"selector": SELECTOR}}
    running = {**job, "status": {"active": 1}}
    assert status.job_verdict(running, {}) == status.Verdict(
        False, "0 succeeded, 1 active, 0 failed"
    )
    done = {**job, "status": {"conditions": [{"type": "Complete", "status": "True"}]}}
    assert status.job_verdict(done, {}) == status.Verdict(True, "complete")
    failed = {
        **job,
        "status": {
            "conditions": [
                {
                    "type": "Failed",
                    "status": "True",
                    "reason": "BackoffLimitExceeded",
                    "message": "Job has reached the specified backoff limit",
                }
            ]
        },
    }
    assert str(status.job_verdict(failed, {})) == (
        "job ns/j: BackoffLimitExceeded: Job has reached the specified backoff limit"
    )


def test_pods_verdict_needs_min_count_and_all_ready() -> None:
    assert status.pods_verdict({}, min_count=1) == status.Verdict(False, "0/1 pods ready")
    pods = {"a": pod("a"), "b": pod("b", ready=False)}
    assert status.pods_verdict(pods) == status.Verdict(False, "1/2 pods ready; waiting for b")
    assert status.pods_verdict({"a": pod("a")}).done is True


def test_statefulset_needs_matching_revisions() -> None:
    sts = {
        "metadata": {"name": "db", "namespace": "ns", "generation": 1},
        "spec": {"replicas": 1, "selector": SELECTOR},
        "status": {
            "observedGeneration": 1,
            "replicas": 1,
            "readyReplicas": 1,
            "updatedReplicas": 1,
            "currentRevision": "a",
            "updateRevision": "b",
        },
    }
    assert status.statefulset_verdict(sts, {}).done is False  # type: ignore[union-attr]
    sts["status"]["currentRevision"] = "b"
    assert status.statefulset_verdict(sts, {}) == status.Verdict(True, "1/1 ready, 1/1 updated")


@pytest.mark.parametrize(
    ("selector", "labels", "expected"),
    [
        ({"matchLabels": {"a": "1"}}, {"a": "1", "b": "2"}, True),
        ({"matchLabels": {"a": "1"}}, {"a": "2"}, False),
        (
            {"matchExpressions": [{"key": "a", "operator": "In", "values": ["1", "2"]}]},
            {"a": "2"},
            True,
        ),
        (
            {"matchExpressions": [{"key": "a", "operator": "NotIn", "values": ["1"]}]},
            {"a": "1"},
            False,
        ),
        ({"matchExpressions": [{"key": "a", "operator": "Exists"}]}, {}, False),
        ({"matchExpressions": [{"key": "a", "operator": "DoesNotExist"}]}, {}, True),
        ({}, {"a": "1"}, False),
        (None, {"a": "1"}, False),
    ],
)
def test_selector_matches(selector: Any, labels: dict[str, str], expected: bool) -> None:
    assert status.selector_matches(selector, labels) is expected


def test_selector_string_uses_the_api_syntax() -> None:
    selector = {
        "matchLabels": {"b": "2", "a": "1"},
        "matchExpressions": [
            {"key": "c", "operator": "In", "values": ["x", "y"]},
            {"key": "d", "operator": "DoesNotExist"},
        ],
    }
    assert status.selector_string(selector) == "a=1,b=2,c in (x,y),!d"


def test_waiting_for_a_volume_to_bind_is_not_terminal() -> None:
    pending = {
        "metadata": {"name": "db-0", "namespace": "ns"},
        "status": {
            "phase": "Pending",
            "conditions": [
                {
                    "type": "PodScheduled",
                    "status": "False",
                    "reason": "Unschedulable",
                    "message": "0/1 nodes are available: pod has unbound immediate "
                    "PersistentVolumeClaims.",
                }
            ],
        },
    }
    assert status.pod_failure(pending) is None
