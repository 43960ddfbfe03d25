"""``python -m testing.platform deploy|render``: the command line the nox session calls."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

import yaml

from testing.cluster import ClusterError, get_provider
from testing.k8s.client import api_client
from testing.k8s.objects import K8sError
from testing.platform import PlatformError, platform_namespace
from testing.platform.deploy import DASHBOARD_NODE_PORT, Deployer, ensure_images, table
from testing.platform.manifests import image_map, render_all
from testing.polling import ConditionFailedError, WaitTimeoutError

TIMEOUT_ENV = "TEST_DEPLOY_TIMEOUT"
DEFAULT_TIMEOUT_S = 300.0


def _deploy(timeout: float) -> int:
    provider = get_provider()
    api = api_client(provider.kubeconfig_path())
    namespace = platform_namespace()
    print(
        f"deploying the platform to namespace {namespace} of the {provider.name} cluster "
        f"{provider.config.name!r}"
    )

    def before(stage: str) -> None:
        print(f"  stage {stage} ...", flush=True)

    source = ensure_images(provider) if provider.runs_containers else None
    result = Deployer(
        api,
        runs_containers=provider.runs_containers,
        stage_timeout=timeout,
        before_stage=before,
        images=image_map(source=source),
        namespace=namespace,
        dashboard_url=provider.dashboard_url(DASHBOARD_NODE_PORT),
    ).run()
    print(table(result.rows, result.seconds))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m testing.platform", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    deploy = commands.add_parser("deploy", help="deploy the platform and wait until healthy")
    deploy.add_argument(
        "--timeout",
        type=float,
        default=float(os.environ.get(TIMEOUT_ENV) or DEFAULT_TIMEOUT_S),
        help=f"seconds per stage (default ${TIMEOUT_ENV} or {DEFAULT_TIMEOUT_S:g})",
    )
    commands.add_parser("render", help="print the manifests as deploy applies them")
    args = parser.parse_args(argv)
    try:
        if args.command == "render":
            print(yaml.safe_dump_all(render_all(), sort_keys=False), end="")
            return 0
        return _deploy(args.timeout)
    except (PlatformError, ClusterError, K8sError, WaitTimeoutError, ConditionFailedError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted: deploy is idempotent, run it again to finish", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
