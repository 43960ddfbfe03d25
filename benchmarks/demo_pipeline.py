"""Wall time and peak memory of one demo pipeline run, per product and scale.

Each sample is a fresh child process (``python -m demo run --product P --scale N``)
writing into its own namespaces (``DEMO_NAMESPACE_SUFFIX``), so samples neither share
a warm interpreter nor grow each other's tables. Wall time is measured around the
child; peak memory is the child's maximum resident set size (``ru_maxrss``).
Needs a catalog and an object store in the environment (``ICEBERG_CATALOG_URL``,
``S3_ENDPOINT_URL``, ``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``, ``DEMO_WAREHOUSE``):

    python benchmarks/demo_pipeline.py --scales 1000 10000 100000 --runs 3
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
import uuid

from demo.products import PRODUCTS

#: The child runs the CLI, then reports its own peak RSS (KiB on Linux) as its last line.
CHILD = (
    "import resource, sys\n"
    "from demo.__main__ import main\n"
    "code = main(sys.argv[1:])\n"
    "print('PEAK_KIB', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr)\n"
    "sys.exit(code)\n"
)


def one_run(product: str, scale: int) -> tuple[float, float]:
    """(seconds, peak RSS in MiB) of one child run."""
    env = {**os.environ, "DEMO_NAMESPACE_SUFFIX": f"bench_{uuid.uuid4().hex[:8]}"}
    argv = ["run", "--quiet", "--product", product, "--scale", str(scale)]
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", CHILD, *argv],
        env=env,
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )
    seconds = time.perf_counter() - started
    lines = done.stderr.strip().splitlines()
    if done.returncode != 0 or not lines or not lines[-1].startswith("PEAK_KIB "):
        raise SystemExit(f"{product} at {scale} failed: {lines[-2:]}")
    return seconds, int(lines[-1].split()[1]) / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scales", type=int, nargs="+", default=[1000, 10_000, 100_000])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--products", nargs="+", default=sorted(PRODUCTS), choices=sorted(PRODUCTS))
    args = parser.parse_args()
    print(
        f"{'product':<16}{'rows/table':>11}  {'median s':>9}  {'min s':>7}  {'peak MiB':>9}  runs"
    )
    for scale in args.scales:
        for product in args.products:
            samples = [one_run(product, scale) for _ in range(args.runs)]
            times = [s for s, _ in samples]
            peak = max(m for _, m in samples)
            runs = ", ".join(f"{t:.2f}" for t in times)
            print(
                f"{product:<16}{scale:>11}  {statistics.median(times):>9.2f}  "
                f"{min(times):>7.2f}  {peak:>9.0f}  {runs}",
                flush=True,
            )


if __name__ == "__main__":
    main()
