"""Wall time of the kwok provider's lifecycle, through the real CLI, over several runs.

    python benchmarks/kwok_bench.py [--runs 5] [--cold-build]

Steps measured, each as ``python -m testing.cluster <command>`` in a fresh process
(so interpreter start and imports count, as they do for ``nox -s cluster``):

* ``up (warm)``: absent cluster -> ready (binaries already cached);
* ``up (ready)``: ``up`` again on the ready cluster (a readiness check only);
* ``down``: ready cluster -> no process, no file.

``--cold-build`` also builds every binary once from nothing: empty Go module cache,
empty Go build cache, empty binaries cache (all in a temporary directory), which
downloads every module through the proxy and compiles everything: what CI's first
run on a fresh machine pays. It takes many minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CLI_TIMEOUT_S = 600
BUILD_TIMEOUT_S = 7200


def _timed(argv: list[str], env: dict[str, str], timeout: float) -> float:
    started = time.perf_counter()
    result = subprocess.run(
        argv, env=env, cwd=REPO, capture_output=True, text=True, timeout=timeout, check=False
    )
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        sys.exit(
            f"{' '.join(argv[-2:])} failed (exit {result.returncode}): {result.stderr[-2000:]}"
        )
    return elapsed


def cold_build() -> float:
    """Build all binaries from an empty module, build and binaries cache."""
    scratch = Path(tempfile.mkdtemp(prefix="kwok-cold-"))
    env = {
        **os.environ,
        "GOMODCACHE": str(scratch / "gomod"),
        "GOCACHE": str(scratch / "gocache"),
        "TEST_CACHE_DIR": str(scratch / "cache"),
    }
    env.pop("TEST_K8S_BINARIES", None)
    try:
        return _timed([sys.executable, "-m", "testing.cluster.k8s_binaries"], env, BUILD_TIMEOUT_S)
    finally:
        # The module cache is read-only by design; go itself knows how to remove it.
        go = shutil.which("go") or "go"
        subprocess.run(
            [go, "clean", "-modcache"], env=env, capture_output=True, timeout=600, check=False
        )
        shutil.rmtree(scratch, ignore_errors=True)


def lifecycle(runs: int) -> dict[str, list[float]]:
    state = Path(tempfile.mkdtemp(prefix="kwok-bench-"))
    env = {
        **os.environ,
        "TEST_CLUSTER_PROVIDER": "kwok",
        "TEST_CLUSTER_NAME": "kwok-bench",
        "TEST_STATE_DIR": str(state),
    }
    cli = [sys.executable, "-m", "testing.cluster"]
    # Make sure the binaries are cached, so "warm" means warm.
    subprocess.run(
        [sys.executable, "-m", "testing.cluster.k8s_binaries"],
        env=env,
        cwd=REPO,
        capture_output=True,
        timeout=BUILD_TIMEOUT_S,
        check=True,
    )
    times: dict[str, list[float]] = {"up (warm)": [], "up (ready)": [], "down": []}
    try:
        for _ in range(runs):
            times["up (warm)"].append(_timed([*cli, "up"], env, CLI_TIMEOUT_S))
            times["up (ready)"].append(_timed([*cli, "up"], env, CLI_TIMEOUT_S))
            times["down"].append(_timed([*cli, "down"], env, CLI_TIMEOUT_S))
    finally:
        subprocess.run(
            [*cli, "down"],
            env=env,
            cwd=REPO,
            capture_output=True,
            timeout=CLI_TIMEOUT_S,
            check=False,
        )
        shutil.rmtree(state, ignore_errors=True)
    return times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--cold-build", action="store_true", help="also time a build from nothing")
    options = parser.parse_args()
    results: dict[str, list[float]] = {}
    if options.cold_build:
        results["cold build (all binaries)"] = [cold_build()]
    results.update(lifecycle(options.runs))
    print(f"{'step':<28}{'runs':>5}{'min s':>9}{'median s':>10}{'max s':>9}")
    for step, values in results.items():
        print(
            f"{step:<28}{len(values):>5}{min(values):>9.2f}"
            f"{statistics.median(values):>10.2f}{max(values):>9.2f}"
        )
    print(f"(cpu cores: {os.cpu_count()}, python: {sys.version.split()[0]})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
