"""A restricted pod that prints its uid, run to completion: proof that a real pod ran.

Both real-pod providers' integration tests (local, kind) start it from an image the node
already holds (``imagePullPolicy: Never``: nothing may be pulled) and read its log.
"""

from __future__ import annotations

from typing import Any

from kubernetes import client as k8s_client

from testing.polling import TerminalFailure, wait_for_condition

POD_UID = 1000
NAME = "whoami"


def manifest(image: str) -> dict[str, Any]:
    """The pod: non-root, no privilege escalation, no capabilities, read-only root."""
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": NAME, "namespace": "default"},
        "spec": {
            "restartPolicy": "Never",
            "automountServiceAccountToken": False,
            "securityContext": {
                "runAsNonRoot": True,
                "runAsUser": POD_UID,
                "seccompProfile": {"type": "RuntimeDefault"},
            },
            "containers": [
                {
                    "name": NAME,
                    "image": image,
                    "imagePullPolicy": "Never",
                    "command": ["/bin/busybox", "sh", "-c", "echo uid=$(/bin/busybox id -u)"],
                    "securityContext": {
                        "allowPrivilegeEscalation": False,
                        "readOnlyRootFilesystem": True,
                        "capabilities": {"drop": ["ALL"]},
                    },
                }
            ],
        },
    }


def run_to_completion(core: k8s_client.CoreV1Api, image: str) -> tuple[Any, str]:
    """Create the pod in ``default``, wait until it succeeds; return it and its log."""
    core.create_namespaced_pod("default", manifest(image))

    def finished() -> Any:
        pod = core.read_namespaced_pod(NAME, "default")
        if pod.status.phase == "Failed":
            raise TerminalFailure(f"pod failed: {pod.status}")
        return pod if pod.status.phase == "Succeeded" else None

    pod = wait_for_condition(finished, timeout=120, description=f"pod {NAME} to succeed")
    return pod, core.read_namespaced_pod_log(NAME, "default").strip()
