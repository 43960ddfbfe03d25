"""Pods that e2e tests start themselves: create, wait for a phase or readiness, exec, logs.

Used by the tests that carry the ``from_host`` marker (they need the host's kubeconfig).
"""

from __future__ import annotations

from typing import Any

from kubernetes.stream import stream

from testing.polling import TerminalFailure, wait_for_condition

START_TIMEOUT_S = 120.0


def _ready(pod: Any) -> bool:
    conditions = pod.status.conditions or []
    return any(c.type == "Ready" and c.status == "True" for c in conditions)


def start(core: Any, namespace: str, manifest: dict[str, Any], *, ready: bool = False) -> Any:
    """Create the pod and return it once Running (and Ready, with ``ready``)."""
    name = manifest["metadata"]["name"]
    core.create_namespaced_pod(namespace, manifest)

    def up() -> Any:
        pod = core.read_namespaced_pod(name, namespace)
        if pod.status.phase in {"Failed", "Succeeded"}:
            raise TerminalFailure(f"pod {name} ended ({pod.status.phase}) before it was up")
        if pod.status.phase == "Running" and (_ready(pod) or not ready):
            return pod
        return None

    what = "Ready" if ready else "Running"
    return wait_for_condition(up, timeout=START_TIMEOUT_S, description=f"pod {name} to be {what}")


def finish(core: Any, namespace: str, manifest: dict[str, Any]) -> tuple[str, str]:
    """Create a run-to-completion pod; return its phase (Succeeded/Failed) and its log."""
    name = manifest["metadata"]["name"]
    core.create_namespaced_pod(namespace, manifest)

    def ended() -> str | None:
        phase = core.read_namespaced_pod(name, namespace).status.phase
        return str(phase) if phase in {"Failed", "Succeeded"} else None

    phase = wait_for_condition(ended, timeout=START_TIMEOUT_S, description=f"pod {name} to end")
    return phase, str(core.read_namespaced_pod_log(name, namespace))


def run(core: Any, namespace: str, pod: str, command: list[str], container: str = "") -> str:
    """``kubectl exec``: the command's stdout and stderr, stripped."""
    extra = {"container": container} if container else {}
    out = stream(
        core.connect_get_namespaced_pod_exec,
        pod,
        namespace,
        command=command,
        stdout=True,
        stderr=True,
        stdin=False,
        tty=False,
        **extra,
    )
    return str(out).strip()
