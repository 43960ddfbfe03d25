"""Wall time of a platform deploy: first deploy into a fresh namespace versus re-deploys.

Runs against the cluster of ``TEST_CLUSTER_PROVIDER`` (it must exist: ``nox -s cluster``).
Each round deploys the platform into a new namespace (first deploy), then deploys the
same again ``--redeploys`` times (nothing changes), then deletes the namespace and its
simulated volumes and waits until they are gone.

    python benchmarks/deploy.py --rounds 3 --redeploys 3
"""

from __future__ import annotations

import argparse
import statistics
import time
import uuid

from testing.cluster import get_provider
from testing.k8s.client import api_client
from testing.k8s.namespaces import delete_namespaces
from testing.platform.deploy import Deployer
from testing.platform.volumes import delete_simulated_volumes


def summary(label: str, samples: list[float]) -> str:
    runs = ", ".join(f"{s:.2f}" for s in samples)
    return (
        f"{label:<12} median {statistics.median(samples):6.2f}s  min {min(samples):6.2f}s  ({runs})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--redeploys", type=int, default=3)
    args = parser.parse_args()
    provider = get_provider()
    api = api_client(provider.kubeconfig_path())
    first: list[float] = []
    again: list[float] = []
    for _ in range(args.rounds):
        namespace = f"ktp-bench-{uuid.uuid4().hex[:8]}"
        try:
            for attempt in range(1 + args.redeploys):
                start = time.perf_counter()
                Deployer(api, runs_containers=provider.runs_containers, namespace=namespace).run()
                (first if attempt == 0 else again).append(time.perf_counter() - start)
        finally:
            delete_namespaces(api, [namespace], timeout=120)
            delete_simulated_volumes(api, namespace)
    print(f"platform deploy on {provider.name} ({args.rounds} rounds)")
    print(summary("first", first))
    print(summary("re-deploy", again))


if __name__ == "__main__":
    main()
