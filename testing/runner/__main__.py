"""``python -m testing.runner render|run|shard|merge``.

``run`` drives the Indexed Job from outside the cluster; ``shard`` is what each of its
pods executes; ``render`` prints the Job; ``merge`` joins JUnit files by hand.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

import yaml

from testing.cluster import ClusterError, get_provider
from testing.k8s.client import api_client
from testing.k8s.objects import K8sError
from testing.platform import PlatformError
from testing.polling import ConditionFailedError, WaitTimeoutError
from testing.runner import RunnerError
from testing.runner.job import RunnerSettings, render_job
from testing.runner.junit import write_merged


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m testing.runner", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("render", help="print the Job for $TEST_SHARDS shards")
    commands.add_parser("run", help="run the suite in the cluster and merge the reports")
    commands.add_parser("shard", help="(inside a runner pod) run this pod's shard")
    merge = commands.add_parser("merge", help="merge JUnit files into one")
    merge.add_argument("output", type=Path)
    merge.add_argument("reports", type=Path, nargs="+")
    args = parser.parse_args(argv)
    #: What a Ctrl-C interrupted, so its message says what was (and was not) cleaned up.
    interrupted = "interrupted: nothing was started"
    try:
        if args.command == "shard":
            from testing.runner.shard import run_shard  # noqa: PLC0415 - pod-only path

            return run_shard()
        if args.command == "merge":
            print(write_merged(args.reports, args.output).summary())
            return 0
        settings = RunnerSettings.from_env(os.environ)
        if args.command == "render":
            print(yaml.safe_dump(render_job(settings), sort_keys=False), end="")
            return 0
        from testing.runner.image import build_and_load  # noqa: PLC0415 - needs a cluster
        from testing.runner.run import run  # noqa: PLC0415

        provider = get_provider()
        if not provider.runs_containers:
            raise RunnerError(
                f"the {provider.name} cluster runs no containers: the test runner needs kind "
                "or an existing cluster (TEST_CLUSTER_PROVIDER=kind|existing)"
            )
        interrupted = "interrupted during the image build: no runner Job was created"
        print(f"built and loaded {build_and_load(provider)}")
        interrupted = "interrupted: the runner Job was deleted"
        result = run(api_client(provider.kubeconfig_path()), settings)
        print(f"{settings.shards} shard(s): {result.totals.summary()}; report: {result.report}")
        return 0 if result.ok else 1
    except (
        RunnerError,
        PlatformError,
        ClusterError,
        K8sError,
        WaitTimeoutError,
        ConditionFailedError,
    ) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(interrupted, file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
