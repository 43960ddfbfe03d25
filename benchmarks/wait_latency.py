"""Latency of a wait: from the moment its condition becomes true to the moment it returns.

The condition is made true by this script itself, so its moment is known: a pod is
bound to a node no kwok controller manages, the wait starts watching it, and then
the script writes the pod's Ready condition through the pods/status subresource
(as a kubelet would). Latency = wait returned - status write acknowledged. For
comparison the same is measured for a poll loop (``wait_for_condition`` GETting
the pod, default backoff), the approach the watch-based waits replace.

    python benchmarks/wait_latency.py --runs 20
"""

from __future__ import annotations

import argparse
import statistics
import threading
import time
from collections.abc import Callable

from kubernetes import client as k8s
from kubernetes.client import ApiClient

from testing.cluster import get_provider
from testing.k8s.client import api_client
from testing.k8s.namespaces import NamespaceNamer, create_namespace, delete_namespaces, new_run_id
from testing.k8s.wait import wait_for_pod
from testing.polling import wait_for_condition

NODE = "ktp-bench-unmanaged-node"


def make_pod(api: ApiClient, namespace: str, name: str) -> None:
    k8s.CoreV1Api(api).create_namespaced_pod(
        namespace,
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": name},
            "spec": {"nodeName": NODE, "containers": [{"name": "app", "image": "x.invalid/a:1"}]},
        },
    )


def mark_ready(api: ApiClient, namespace: str, name: str) -> float:
    body = {"status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}}
    k8s.CoreV1Api(api).patch_namespaced_pod_status(name, namespace, body)
    return time.monotonic()


def poll_ready(api: ApiClient, namespace: str, name: str) -> None:
    core = k8s.CoreV1Api(api)

    def ready() -> bool:
        conditions = core.read_namespaced_pod(name, namespace).status.conditions or []
        return any(c.type == "Ready" and c.status == "True" for c in conditions)

    wait_for_condition(ready, timeout=30, description=f"pod {name} ready (poll)")


def measure(api: ApiClient, namespace: str, name: str, waiter: Callable[[], None]) -> float:
    make_pod(api, namespace, name)
    marked: list[float] = []
    # Let the wait open its watch first, then make the condition true.
    timer = threading.Timer(0.3, lambda: marked.append(mark_ready(api, namespace, name)))
    timer.start()
    waiter()
    returned = time.monotonic()
    timer.join()
    return (returned - marked[0]) * 1000


def summary(label: str, samples: list[float]) -> str:
    ordered = sorted(samples)
    p90 = ordered[max(0, int(len(ordered) * 0.9) - 1)]
    return (
        f"{label:<16} n={len(samples)} median {statistics.median(samples):7.1f} ms  "
        f"p90 {p90:7.1f} ms  max {max(samples):7.1f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    api = api_client(get_provider().kubeconfig_path())
    namer = NamespaceNamer(new_run_id(), "bench")
    namespace = create_namespace(api, namer.next_name("wait-latency"), labels=namer.labels())
    watch_ms: list[float] = []
    poll_ms: list[float] = []
    try:
        for i in range(args.runs):
            watch_ms.append(
                measure(
                    api,
                    namespace,
                    f"w{i}",
                    lambda i=i: wait_for_pod(api, f"w{i}", namespace, timeout=30),
                )
            )
            poll_ms.append(
                measure(api, namespace, f"p{i}", lambda i=i: poll_ready(api, namespace, f"p{i}"))
            )
    finally:
        core = k8s.CoreV1Api(api)
        for pod in core.list_namespaced_pod(namespace).items:
            core.delete_namespaced_pod(pod.metadata.name, namespace, grace_period_seconds=0)
        delete_namespaces(api, [namespace], timeout=120)
    print(summary("watch (wait_for_pod)", watch_ms))
    print(summary("poll (GET+backoff)", poll_ms))


if __name__ == "__main__":
    main()
