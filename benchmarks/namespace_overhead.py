"""Per-test overhead of the ``namespace`` fixture, and the one wait at the end of a run.

Each round does what the fixture does around one test: create a labelled namespace
(optionally with a simulated pod in it, as most tests have), then ask for its
deletion. The fixture does not wait there; after the last round the script awaits
every deletion at once, as each pytest process does when its client closes, and
reports that wait separately. ``--awaited`` measures the old fixture instead, which
awaited each deletion at teardown (the "before" figure).

    python benchmarks/namespace_overhead.py --runs 10 [--with-pod [--force-pods]] [--awaited]

``--force-pods`` is what the fixture does on kwok (simulated pods have nothing to stop).
"""

from __future__ import annotations

import argparse
import statistics
import time

from kubernetes import client as k8s

from testing.cluster import get_provider
from testing.k8s.client import api_client
from testing.k8s.namespaces import (
    NamespaceNamer,
    await_deletion,
    begin_deletion,
    create_namespace,
    delete_namespaces,
    new_run_id,
)
from testing.k8s.wait import wait_for_pod


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--with-pod", action="store_true")
    parser.add_argument("--force-pods", action="store_true")
    parser.add_argument("--awaited", action="store_true", help="await each deletion (old)")
    args = parser.parse_args()
    api = api_client(get_provider().kubeconfig_path())
    namer = NamespaceNamer(new_run_id(), "bench")
    create_ms: list[float] = []
    made: list[str] = []
    delete_ms: list[float] = []
    for _ in range(args.runs):
        started = time.monotonic()
        name = create_namespace(api, namer.next_name("overhead"), labels=namer.labels())
        created = time.monotonic()
        if args.with_pod:
            k8s.CoreV1Api(api).create_namespaced_pod(
                name,
                {
                    "apiVersion": "v1",
                    "kind": "Pod",
                    "metadata": {"name": "p"},
                    "spec": {
                        "tolerations": [{"operator": "Exists"}],
                        "containers": [{"name": "app", "image": "x.invalid/a:1"}],
                    },
                },
            )
            wait_for_pod(api, "p", name, timeout=60)
        deleting = time.monotonic()
        if args.awaited:
            delete_namespaces(api, [name], timeout=120, force_pods=args.force_pods)
        else:
            begin_deletion(api, [name], force_pods=args.force_pods)
        made.append(name)
        create_ms.append((created - started) * 1000)
        delete_ms.append((time.monotonic() - deleting) * 1000)
    waiting = time.monotonic()
    left = await_deletion(api, made, timeout=300)
    end_wait_ms = (time.monotonic() - waiting) * 1000
    total = [c + d for c, d in zip(create_ms, delete_ms, strict=True)]
    deleted = "delete+await" if args.awaited else "delete"
    for label, samples in (("create", create_ms), (deleted, delete_ms), ("per test", total)):
        print(
            f"{label:<13} n={len(samples)} median {statistics.median(samples):8.1f} ms  "
            f"min {min(samples):8.1f} ms  max {max(samples):8.1f} ms"
        )
    print(f"end-of-run wait for all {len(made)} deletions: {end_wait_ms:8.1f} ms")
    if left:
        raise SystemExit(f"still there after 300 s: {', '.join(left)}")


if __name__ == "__main__":
    main()
