"""Wall time of the real-pod path on ``local`` or ``kind``, warm (binaries and images cached).

Each run: ``up`` from nothing, ``deploy``, the three demo Jobs (``python -m demo.cluster``),
``pytest tests/e2e`` from the host, then ``down``. Every step is the command a user runs,
as a subprocess, so the figures include interpreter start-up. For kind on a machine with
no Docker running and no registry, ``up`` includes starting the cluster's own dockerd
and loading the (cached) node image into it, and ``down`` stopping it. Needs root (local;
kind's own dockerd) and no other cluster of that provider on the host.

    python benchmarks/real_pod_cluster.py --provider local --runs 3
    python benchmarks/real_pod_cluster.py --provider kind --runs 3
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time

STEPS = {
    "up": [sys.executable, "-m", "testing.cluster", "up"],
    "deploy": [sys.executable, "-m", "testing.platform", "deploy"],
    "demo": [sys.executable, "-m", "demo.cluster"],
    "e2e": [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/e2e"],
    "down": [sys.executable, "-m", "testing.cluster", "down"],
}
STEP_TIMEOUT_S = 900


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--provider", choices=("local", "kind"), default="local")
    args = parser.parse_args()
    env = {**os.environ, "TEST_CLUSTER_PROVIDER": args.provider, "TEST_CLUSTER_NAME": "ktp-bench"}
    samples: dict[str, list[float]] = {step: [] for step in STEPS}
    for _ in range(args.runs):
        for step, argv in STEPS.items():
            start = time.perf_counter()
            done = subprocess.run(
                argv, env=env, capture_output=True, text=True, timeout=STEP_TIMEOUT_S, check=False
            )
            if done.returncode != 0:
                subprocess.run(STEPS["down"], env=env, timeout=STEP_TIMEOUT_S, check=False)
                sys.exit(f"{step} failed (exit {done.returncode}):\n{done.stderr[-2000:]}")
            samples[step].append(time.perf_counter() - start)
    print(f"{args.provider} provider, warm, {args.runs} run(s): median (min .. max)")
    for step, values in samples.items():
        print(
            f"{step:<7} {statistics.median(values):6.1f}s  ({min(values):.1f} .. {max(values):.1f})"
        )


if __name__ == "__main__":
    main()
