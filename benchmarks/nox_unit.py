"""Wall time of ``nox -s unit``: cold (new session venv) versus warm (venv reused).

Cold runs use a fresh ``--envdir`` each time; with ``--empty-uv-cache`` they also use an
empty uv cache, so every wheel is downloaded again (the first run on a new machine).
Warm runs reuse one envdir, which is what a contributor sees from the second ``nox`` on.

    python benchmarks/nox_unit.py --runs 3 [--empty-uv-cache] [--session unit-3.11]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def timed_nox(session: str, envdir: Path, env: dict[str, str]) -> float:
    start = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "nox", "--envdir", str(envdir), "-s", session],
        cwd=REPO,
        env=env,
        check=False,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    elapsed = time.perf_counter() - start
    if result.returncode != 0:
        tail = "\n".join((result.stdout + result.stderr).splitlines()[-40:])
        raise SystemExit(
            f"nox -s {session} failed; a benchmark of a failing run means nothing:\n{tail}"
        )
    return elapsed


def summary(label: str, samples: list[float]) -> str:
    runs = ", ".join(f"{s:.1f}" for s in samples)
    return (
        f"{label:<28} median {statistics.median(samples):6.1f}s  min {min(samples):6.1f}s  ({runs})"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--session", default=f"unit-{sys.version_info[0]}.{sys.version_info[1]}")
    parser.add_argument("--empty-uv-cache", action="store_true")
    options = parser.parse_args()

    cold: list[float] = []
    warm: list[float] = []
    with tempfile.TemporaryDirectory(prefix="nox-bench-") as scratch:
        root = Path(scratch)
        for run in range(options.runs):
            env = dict(os.environ)
            if options.empty_uv_cache:
                env["UV_CACHE_DIR"] = str(root / f"uv-cache-{run}")
            cold.append(timed_nox(options.session, root / f"cold-{run}", env))
        shared = root / "warm"
        timed_nox(options.session, shared, dict(os.environ))  # create it once
        warm = [timed_nox(options.session, shared, dict(os.environ)) for _ in range(options.runs)]

    cache = "empty uv cache" if options.empty_uv_cache else "warm uv cache"
    print(summary(f"cold venv ({cache})", cold))
    print(summary("warm venv (reused)", warm))
    print(f"{'ratio cold/warm':<28} {statistics.median(cold) / statistics.median(warm):6.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
