"""Cold build of the kind node image built here, and loading it into a fresh dockerd.

"Cold" means the node image's own archive is rebuilt (moved aside, put back after);
the Kubernetes binaries, the Go tools and the images it carries come from their caches,
as they do after any change to the node image's own inputs. Loading is ``docker load``
into a private dockerd started for the measurement, which is what a new kind cluster
pays here. Needs root (mmdebstrap, dockerd).

    python benchmarks/kind_node_image.py --runs 3
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import time

from testing.cluster.docker_daemon import private_docker_daemon
from testing.cluster.k8s_binaries import ensure_binaries
from testing.images import kind_node
from testing.images.build import cache_root

LOAD_TIMEOUT_S = 900
DOCKER = shutil.which("docker") or "docker"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    binaries = ensure_binaries().directory
    builds: list[float] = []
    loads: list[float] = []
    for _ in range(args.runs):
        reference = kind_node.node_reference()
        cached = cache_root() / f"{kind_node.NODE_NAME}-{reference.rsplit(':', 1)[-1]}.tar"
        aside = cached.with_suffix(".bench")
        if cached.exists():
            cached.rename(aside)
        try:
            start = time.perf_counter()
            _, archive = kind_node.node_archive(binaries, say=lambda message: None)
            builds.append(time.perf_counter() - start)
        finally:
            if aside.exists():
                aside.replace(cached)
        with private_docker_daemon() as daemon:
            start = time.perf_counter()
            subprocess.run(
                [DOCKER, "load", "--input", str(archive)],
                env={"PATH": "/usr/local/bin:/usr/bin:/bin", **daemon.env},
                capture_output=True,
                timeout=LOAD_TIMEOUT_S,
                check=True,
            )
            loads.append(time.perf_counter() - start)
    size = archive.stat().st_size / 2**20
    print(f"kind node image {reference} ({size:.0f} MiB), {args.runs} run(s): median (min .. max)")
    for name, values in (("build", builds), ("docker load", loads)):
        low, high = min(values), max(values)
        print(f"{name:<12} {statistics.median(values):6.1f}s  ({low:.1f} .. {high:.1f})")


if __name__ == "__main__":
    main()
