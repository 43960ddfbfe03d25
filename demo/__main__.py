"""``python -m demo run | status | serve``.

Expected failures (bad settings, unreachable services, failed quality checks) print one
``error:`` line (after the quality report, when there is one) and exit 1; Ctrl-C exits 130.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from demo.config import load_settings
from demo.dashboard.server import make_server
from demo.errors import DemoError, QualityError
from demo.model import Product
from demo.pipeline import RunResult, run_product
from demo.products import PRODUCTS, get_product
from demo.progress import Progress
from demo.status import collect, to_json
from demo.storage import Warehouse


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m demo", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="build the data products (all, or --product)")
    run.add_argument("--product", choices=sorted(PRODUCTS), help="one product (default: all)")
    run.add_argument("--scale", type=int, help="rows per seed table (default DEMO_SEED_SCALE)")
    run.add_argument("--seed", type=int, help="seed of the generators (default DEMO_SEED)")
    run.add_argument(
        "--schema-revision", type=int, help="source schema revision (default: the latest)"
    )
    run.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    status = sub.add_parser("status", help="tables, row counts, snapshots, last quality result")
    status.add_argument("--json", action="store_true", help="machine-readable output")
    serve = sub.add_parser("serve", help="serve the dashboard")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8080)
    return parser


def _products(name: str | None) -> list[Product]:
    return [get_product(name)] if name else list(PRODUCTS.values())


def _summary(results: Sequence[RunResult]) -> str:
    rows = [("product", "table", "rows", "snapshot")]
    rows += [
        (r.product, w.identifier, str(w.rows), str(w.snapshot_id))
        for r in results
        for w in r.writes
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    return "\n".join(
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in rows
    )


def cmd_run(args: argparse.Namespace) -> int:
    overrides: dict[str, object] = {}
    if args.scale is not None:
        overrides["DEMO_SEED_SCALE"] = args.scale
    if args.seed is not None:
        overrides["DEMO_SEED"] = args.seed
    settings = load_settings(**overrides)
    warehouse = Warehouse(settings)
    warehouse.ensure_bucket()
    results: list[RunResult] = []
    failed: list[str] = []
    for product in _products(args.product):
        progress = Progress(product.name, enabled=not args.quiet)
        try:
            results.append(
                run_product(
                    product,
                    warehouse,
                    scale=settings.scale,
                    seed=settings.seed,
                    revision=args.schema_revision,
                    progress=progress,
                    run_id=settings.run_id,
                )
            )
        except QualityError as exc:
            print(exc.report, file=sys.stderr)
            failed.append(str(exc))
    print(_summary(results))
    if failed:
        raise DemoError(" | ".join(failed))
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    statuses = collect(Warehouse(load_settings()), list(PRODUCTS.values()))
    if args.json:
        print(json.dumps(to_json(statuses), indent=1))
        return 0
    for s in statuses:
        if s.quality is None:
            quality = "no quality result yet"
        else:
            q = s.quality
            quality = f"quality {q.passed} passed, {q.failed} failed (run {q.run_id})"
        print(f"{s.name} [{s.namespace}]: {quality}")
        for line in s.quality.failures if s.quality else []:
            print(f"  FAIL {line}")
        for t in s.tables:
            updated = t.updated_at.isoformat(timespec="seconds") if t.updated_at else "-"
            print(
                f"  {t.identifier:<45} {t.rows:>9} rows  snapshot {t.snapshot_id}  "
                f"({t.snapshots} kept)  {updated}"
            )
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    warehouse = Warehouse(load_settings())
    server = make_server(args.host, args.port, lambda: collect(warehouse, list(PRODUCTS.values())))
    print(f"dashboard on http://{args.host}:{server.server_address[1]}/", flush=True)
    try:
        server.serve_forever()
    finally:
        server.server_close()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    command = {"run": cmd_run, "status": cmd_status, "serve": cmd_serve}[args.command]
    try:
        return command(args)
    except DemoError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
