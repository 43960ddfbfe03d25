"""Helpers of the k8s integration tests: pod builders and a separate pytest run.

Pods here are simulated by kwok (no container runs; this machine reaches no image
registry). Their state transitions are real API objects written by the kwok
controller and watched through the real API server, which is what the library
under test consumes.

Failures are planted two ways: kwok's own chaos stage (the label
:data:`KWOK_FAIL_LABEL` makes a Running pod's containers exit with a chosen code),
and, for states kwok's stages do not produce (CrashLoopBackOff, ImagePullBackOff),
a status report written the way a kubelet writes it (the pods/status subresource)
for a pod bound to a node that no kwok controller manages, so nothing overwrites it.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from kubernetes.client import ApiClient, CoreV1Api

from testing.k8s.apply import apply_objects
from testing.k8s.objects import AppliedObject

MANIFESTS = Path(__file__).parent / "manifests"
#: kwok's chaos stage (loaded by the kwok provider): fail a Running pod's containers.
KWOK_FAIL_LABEL = "pod-container-running-failed.stage.kwok.x-k8s.io"
KWOK_FAIL_EXIT_CODE = f"{KWOK_FAIL_LABEL}/exit-code"
KWOK_FAIL_MESSAGE = f"{KWOK_FAIL_LABEL}/message"
#: A node name no Node object and no kwok controller has: its pods are ours to report on.
UNMANAGED_NODE = "ktp-test-unmanaged-node"


def pod_manifest(
    name: str,
    *,
    labels: Mapping[str, str] | None = None,
    containers: tuple[str, ...] = ("app",),
    ports: tuple[int, ...] = (),
    **spec: Any,
) -> dict[str, Any]:
    """A pod that kwok schedules onto its fake node (it tolerates every taint)."""
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": {"app": name, **(labels or {})}},
        "spec": {
            "tolerations": [{"operator": "Exists"}],
            "containers": [
                {
                    "name": container,
                    "image": f"registry.invalid/{container}:1.0",
                    "ports": [{"containerPort": port} for port in ports],
                }
                for container in containers
            ],
            **spec,
        },
    }


def deployment_manifest(
    name: str,
    *,
    replicas: int = 1,
    pod_labels: Mapping[str, str] | None = None,
    **pod_spec: Any,
) -> dict[str, Any]:
    pod = pod_manifest(name, labels=pod_labels, **pod_spec)
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": pod["metadata"]["labels"]}, "spec": pod["spec"]},
        },
    }


def report_container_waiting(
    api: ApiClient, namespace: str, pod: str, reason: str, message: str, *, phase: str = "Pending"
) -> None:
    """Write what a kubelet reports for a container stuck in ``reason`` (pods/status)."""
    core = CoreV1Api(api)
    spec = core.read_namespaced_pod(pod, namespace).spec
    statuses = [
        {
            "name": c.name,
            "image": c.image,
            "imageID": "",
            "ready": False,
            "restartCount": 4 if reason == "CrashLoopBackOff" else 0,
            "state": {"waiting": {"reason": reason, "message": message}},
        }
        for c in spec.containers
    ]
    body = {
        "status": {
            "phase": phase,
            "conditions": [{"type": "Ready", "status": "False", "reason": "ContainersNotReady"}],
            "containerStatuses": statuses,
        }
    }
    core.patch_namespaced_pod_status(pod, namespace, body)


def force_delete_pods(api: ApiClient, namespace: str) -> None:
    """Remove pods no kubelet will ever confirm deleting (bound to :data:`UNMANAGED_NODE`)."""
    core = CoreV1Api(api)
    for pod in core.list_namespaced_pod(namespace).items:
        if pod.spec.node_name == UNMANAGED_NODE:
            core.delete_namespaced_pod(pod.metadata.name, namespace, grace_period_seconds=0)


def apply_one(api: ApiClient, namespace: str, manifest: Mapping[str, Any]) -> AppliedObject:
    return apply_objects(api, [manifest], namespace=namespace)[0]
