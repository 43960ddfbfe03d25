"""Watch-based waits for workloads, with a deadline and fail-fast on terminal states.

``wait_for_deployment`` and friends watch the object and the pods it selects at
the same time (see :mod:`testing.k8s.watching`), so they return as soon as the
rollout is complete and stop at once, naming the pod, the reason and the message,
when a pod is in CrashLoopBackOff, cannot pull its image, exited non-zero, or
cannot be scheduled, or when a Job has failed. No sleep loops.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from kubernetes import client as k8s_client

from testing.k8s import status
from testing.k8s.objects import ObjectRef
from testing.k8s.watching import Source, State, WaitFailedError, WatchError, watch_until

__all__ = [
    "WaitFailedError",
    "WatchError",
    "wait_for_crd",
    "wait_for_daemonset",
    "wait_for_deployment",
    "wait_for_job",
    "wait_for_namespace_active",
    "wait_for_pod",
    "wait_for_pods_ready",
    "wait_for_ready",
    "wait_for_statefulset",
]


def _by_name(name: str) -> dict[str, str]:
    return {"field_selector": f"metadata.name={name}"}


def _pods(api: k8s_client.ApiClient, namespace: str, label_selector: str | None = None) -> Source:
    kwargs: dict[str, str] = {"namespace": namespace}
    if label_selector:
        kwargs["label_selector"] = label_selector
    return Source("pods", k8s_client.CoreV1Api(api).list_namespaced_pod, kwargs)


def wait_for_deployment(
    api: k8s_client.ApiClient, name: str, namespace: str, *, timeout: float
) -> None:
    """Until the rollout of Deployment ``namespace/name`` is complete."""
    apps = k8s_client.AppsV1Api(api)
    watch_until(
        [
            Source(
                "deploy",
                apps.list_namespaced_deployment,
                {"namespace": namespace, **_by_name(name)},
            ),
            _pods(api, namespace),
        ],
        lambda s: status.deployment_verdict(s["deploy"].get(name), s["pods"]),
        timeout=timeout,
        description=f"deployment {namespace}/{name} to roll out",
    )


def wait_for_statefulset(
    api: k8s_client.ApiClient, name: str, namespace: str, *, timeout: float
) -> None:
    """Until every replica of StatefulSet ``namespace/name`` is ready and updated."""
    apps = k8s_client.AppsV1Api(api)
    watch_until(
        [
            Source(
                "sts", apps.list_namespaced_stateful_set, {"namespace": namespace, **_by_name(name)}
            ),
            _pods(api, namespace),
        ],
        lambda s: status.statefulset_verdict(s["sts"].get(name), s["pods"]),
        timeout=timeout,
        description=f"statefulset {namespace}/{name} to be ready",
    )


def wait_for_daemonset(
    api: k8s_client.ApiClient, name: str, namespace: str, *, timeout: float
) -> None:
    """Until DaemonSet ``namespace/name`` runs ready and updated on every eligible node."""
    apps = k8s_client.AppsV1Api(api)
    watch_until(
        [
            Source(
                "ds", apps.list_namespaced_daemon_set, {"namespace": namespace, **_by_name(name)}
            ),
            _pods(api, namespace),
        ],
        lambda s: status.daemonset_verdict(s["ds"].get(name), s["pods"]),
        timeout=timeout,
        description=f"daemonset {namespace}/{name} to be ready",
    )


def wait_for_job(api: k8s_client.ApiClient, name: str, namespace: str, *, timeout: float) -> None:
    """Until Job ``namespace/name`` is Complete; a Failed condition ends the wait at once."""
    batch = k8s_client.BatchV1Api(api)
    watch_until(
        [
            Source("job", batch.list_namespaced_job, {"namespace": namespace, **_by_name(name)}),
            _pods(api, namespace),
        ],
        lambda s: status.job_verdict(s["job"].get(name), s["pods"]),
        timeout=timeout,
        description=f"job {namespace}/{name} to complete",
    )


def wait_for_pods_ready(
    api: k8s_client.ApiClient,
    namespace: str,
    label_selector: str,
    *,
    timeout: float,
    min_count: int = 1,
) -> list[str]:
    """Until at least ``min_count`` pods match ``label_selector`` and all are Ready.

    Returns the names of the ready pods.
    """
    state = watch_until(
        [_pods(api, namespace, label_selector)],
        lambda s: status.pods_verdict(s["pods"], min_count=min_count),
        timeout=timeout,
        description=f"pods {label_selector!r} in {namespace} to be ready",
    )
    return sorted(state["pods"])


def wait_for_pod(api: k8s_client.ApiClient, name: str, namespace: str, *, timeout: float) -> None:
    """Until pod ``namespace/name`` is Ready (or has Succeeded)."""
    core = k8s_client.CoreV1Api(api)
    watch_until(
        [Source("pods", core.list_namespaced_pod, {"namespace": namespace, **_by_name(name)})],
        lambda s: status.pods_verdict(s["pods"], min_count=1),
        timeout=timeout,
        description=f"pod {namespace}/{name} to be ready",
    )


def wait_for_crd(api: k8s_client.ApiClient, name: str, *, timeout: float) -> None:
    """Until CustomResourceDefinition ``name`` is Established."""
    ext = k8s_client.ApiextensionsV1Api(api)
    watch_until(
        [Source("crd", ext.list_custom_resource_definition, _by_name(name))],
        lambda s: status.crd_verdict(s["crd"].get(name)),
        timeout=timeout,
        description=f"CRD {name} to be established",
    )


def wait_for_namespace_active(api: k8s_client.ApiClient, name: str, *, timeout: float) -> None:
    core = k8s_client.CoreV1Api(api)
    watch_until(
        [Source("ns", core.list_namespace, _by_name(name))],
        lambda s: status.namespace_verdict(s["ns"].get(name)),
        timeout=timeout,
        description=f"namespace {name} to be active",
    )


def wait_for_deletion(api: k8s_client.ApiClient, ref: ObjectRef, *, timeout: float) -> None:
    """Until the namespace or pod ``ref`` is gone from the API (finalizers done)."""
    core = k8s_client.CoreV1Api(api)
    if ref.kind == "Namespace":
        source = Source("obj", core.list_namespace, _by_name(ref.name))
    elif ref.kind == "Pod" and ref.namespace:
        source = Source(
            "obj", core.list_namespaced_pod, {"namespace": ref.namespace, **_by_name(ref.name)}
        )
    else:
        raise ValueError(f"wait_for_deletion supports Namespace and Pod, not {ref.kind}")

    def gone(state: State) -> status.Verdict:
        obj = state["obj"].get(ref.name)
        if obj is None:
            return status.Verdict(True, "gone")
        phase = (obj.get("status") or {}).get("phase")
        return status.Verdict(False, f"still there (phase {phase})")

    watch_until([source], gone, timeout=timeout, description=f"{ref} to be deleted")


_WAITERS = {
    "Deployment": wait_for_deployment,
    "StatefulSet": wait_for_statefulset,
    "DaemonSet": wait_for_daemonset,
    "Job": wait_for_job,
    "Pod": wait_for_pod,
}


def wait_for_ready(
    api: k8s_client.ApiClient, objects: Sequence[ObjectRef], *, timeout: float
) -> None:
    """Wait for each object that has a notion of ready, under one shared deadline.

    Deployments, StatefulSets, DaemonSets, Jobs, Pods, CRDs and Namespaces are
    awaited; kinds that are ready once stored (ConfigMap, Service, RBAC...) are not.
    """
    deadline = time.monotonic() + timeout
    for ref in objects:
        remaining = max(deadline - time.monotonic(), 0.001)
        waiter = _WAITERS.get(ref.kind)
        if waiter is not None:
            waiter(api, ref.name, ref.namespace or "default", timeout=remaining)
        elif ref.kind == "CustomResourceDefinition":
            wait_for_crd(api, ref.name, timeout=remaining)
        elif ref.kind == "Namespace":
            wait_for_namespace_active(api, ref.name, timeout=remaining)
