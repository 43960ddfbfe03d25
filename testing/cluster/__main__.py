"""``python -m testing.cluster up|down|status|kubeconfig|load-image|export-logs``.

The nox sessions call this. The provider comes from ``TEST_CLUSTER_PROVIDER``
(default ``kind``) and the name from ``TEST_CLUSTER_NAME``. An expected failure
prints one ``error: ...`` line on stderr and exits 1; Ctrl-C exits 130 after the
provider has removed whatever it had half made. ``up`` prints the kubeconfig path
as the last line on stdout, so ``export KUBECONFIG=$(python -m testing.cluster up | tail -1)``
works.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from testing.cluster import get_provider
from testing.cluster.base import ClusterError, ClusterProvider
from testing.pins import PinError
from testing.tools import ToolError

EXIT_FAILURE = 1
EXIT_INTERRUPTED = 130


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m testing.cluster",
        description="Create, reuse, inspect and delete the test cluster.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", help="create the cluster or reuse it; print the kubeconfig path")
    up.add_argument("--wait", type=float, default=300, help="seconds to wait for readiness")
    sub.add_parser("down", help="delete the cluster and its local files")
    sub.add_parser("status", help="one line: provider, name, exists or absent")
    sub.add_parser("kubeconfig", help="print the project-local kubeconfig path")
    load = sub.add_parser("load-image", help="load a local image (or a docker save archive)")
    what = load.add_mutually_exclusive_group(required=True)
    what.add_argument("image", nargs="?", help="image reference present in the local runtime")
    what.add_argument("--archive", type=Path, help="a tar file written by docker save")
    logs = sub.add_parser("export-logs", help="write the cluster's logs to the diagnostics dir")
    logs.add_argument("--dest", type=Path, default=None, help="another destination directory")
    return parser


def _run(provider: ClusterProvider, options: argparse.Namespace) -> None:
    command = options.command
    if command == "up":
        print(
            f"{provider.name}: bringing up cluster {provider.config.name!r} ...",
            file=sys.stderr,
            flush=True,
        )
        print(provider.create(wait_seconds=options.wait))
    elif command == "down":
        provider.delete()
        provider.config.lock_path.unlink(missing_ok=True)
        print(f"{provider.name} cluster {provider.config.name!r} deleted", file=sys.stderr)
    elif command == "status":
        print(provider.status())
    elif command == "kubeconfig":
        path = provider.kubeconfig_path()
        if not path.is_file():
            raise ClusterError(f"{path} does not exist: run `python -m testing.cluster up` first")
        print(path)
    elif command == "load-image":
        if options.archive is not None:
            provider.load_image_archive(options.archive)
        else:
            provider.load_image(options.image)
    elif command == "export-logs":
        print(provider.export_logs(options.dest))


def main(argv: list[str] | None = None) -> int:
    options = _parser().parse_args(argv)
    try:
        _run(get_provider(), options)
    except KeyboardInterrupt:
        print("error: interrupted (Ctrl-C); cleaned up what was half made", file=sys.stderr)
        return EXIT_INTERRUPTED
    except (ClusterError, PinError, ToolError) as exc:
        print(f"error: {' '.join(str(exc).split())}", file=sys.stderr)
        return EXIT_FAILURE
    except OSError as exc:  # e.g. an unwritable TEST_STATE_DIR: the OS says which path
        print(f"error: {' '.join(str(exc).split())}", file=sys.stderr)
        return EXIT_FAILURE
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
