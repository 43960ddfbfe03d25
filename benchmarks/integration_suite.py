"""Wall time of the integration suite: serial versus ``-n auto`` (pytest-xdist).

Runs ``pytest --local-services <paths>`` on the existing cluster of
``TEST_CLUSTER_PROVIDER`` (create it first: ``nox -s cluster``), ``--runs`` times per
mode, and prints each wall time and the median. Every run must pass.

    python benchmarks/integration_suite.py --runs 2 tests/integration/k8s tests/integration/services
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

RUN_TIMEOUT_S = 1800


def run(paths: list[str], workers: str) -> float:
    started = time.monotonic()
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "--local-services",
            "-n",
            workers,
            *paths,
        ],
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_S,
        check=False,
    )
    elapsed = time.monotonic() - started
    if result.returncode != 0:
        sys.exit(f"pytest -n {workers} failed (exit {result.returncode}):\n{result.stdout[-3000:]}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument(
        "paths", nargs="*", default=["tests/integration/k8s", "tests/integration/services"]
    )
    args = parser.parse_args()
    for workers in ("0", "auto"):
        samples = [run(args.paths, workers) for _ in range(args.runs)]
        runs = ", ".join(f"{s:.1f}" for s in samples)
        print(f"-n {workers:<5} median {statistics.median(samples):6.1f}s  ({runs})")


if __name__ == "__main__":
    main()
