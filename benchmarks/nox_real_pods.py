"""Wall time of the README's real-pod commands, warm: ``nox -s demo`` and ``nox -s e2e``.

Warm means venvs reused, binaries and images cached, and the cluster kept between runs
(``TEST_KEEP_CLUSTER=1``); the first run brings the cluster up and is reported apart.
The targets in the real-pods issue: demo under 3 min, e2e under 4 min. Needs what the
provider needs (root for ``local``).

    python benchmarks/nox_real_pods.py --runs 3
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time

SESSIONS = ("demo", "e2e")
RUN_TIMEOUT_S = 1800


def _nox(session: str, env: dict[str, str]) -> float:
    nox = shutil.which("nox")
    if nox is None:
        sys.exit("nox is not on PATH")
    start = time.perf_counter()
    done = subprocess.run(
        [nox, "-s", session],
        env=env,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_S,
        check=False,
    )
    if done.returncode != 0:
        sys.exit(f"nox -s {session} failed (exit {done.returncode}):\n{done.stdout[-3000:]}")
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    env = {**os.environ, "TEST_KEEP_CLUSTER": "1"}
    env.setdefault("TEST_CLUSTER_PROVIDER", "local")
    env.setdefault("TEST_CLUSTER_NAME", "ktp-bench")
    first = _nox("demo", env)  # brings the cluster up (or reuses it) and deploys
    samples: dict[str, list[float]] = {s: [] for s in SESSIONS}
    for _ in range(args.runs):
        for session in SESSIONS:
            samples[session].append(_nox(session, env))
    print(f"provider {env['TEST_CLUSTER_PROVIDER']}; first `nox -s demo`: {first:.1f}s")
    print(f"warm, cluster kept, {args.runs} run(s): median (min .. max)")
    for session, values in samples.items():
        low, high = min(values), max(values)
        print(f"nox -s {session:<5} {statistics.median(values):6.1f}s  ({low:.1f} .. {high:.1f})")


if __name__ == "__main__":
    main()
