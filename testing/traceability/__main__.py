"""``python -m testing.traceability``: the requirement coverage gate.

Exit 0 when coverage against the registry meets the threshold and every id is
known; 1 with one line per problem otherwise; 2 when the registry, the results
file or test collection cannot be used at all.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

from testing.traceability.inventory import InventoryError, collect_inventory, read_inventory
from testing.traceability.matrix import DEFAULT_THRESHOLD, THRESHOLD_ENV, build_matrix
from testing.traceability.registry import (
    DEFAULT_REGISTRY,
    REGISTRY_ENV,
    RegistryError,
    load_registry,
)
from testing.traceability.report import to_json, to_markdown
from testing.traceability.results import MERGE_ENV, ResultsError, read_merged, report_paths

PREFIX = "traceability:"
DEFAULT_OUT = Path("artifacts/traceability")


def _threshold(raw: str | None) -> float:
    if raw is None or raw == "":
        return DEFAULT_THRESHOLD
    try:
        value = float(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(f"threshold {raw!r} is not a number") from None
    if not 0 <= value <= 100:
        raise argparse.ArgumentTypeError(f"threshold {value:g} is not within 0..100")
    return value


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m testing.traceability", description=__doc__)
    parser.add_argument("paths", nargs="*", default=["tests"], help="what to collect")
    parser.add_argument("--root", type=Path, default=Path.cwd(), help="repository root")
    parser.add_argument(
        "--registry", help=f"requirement registry (${REGISTRY_ENV}, default {DEFAULT_REGISTRY})"
    )
    parser.add_argument(
        "--results",
        action="append",
        help="last test results JSON ($TEST_RESULTS_JSON); repeat it, or set "
        f"${MERGE_ENV} to a glob, to merge the files of several jobs "
        "(the latest record of each test wins)",
    )
    parser.add_argument(
        "--threshold",
        help=f"required coverage in percent (${THRESHOLD_ENV}, default {DEFAULT_THRESHOLD:g})",
    )
    parser.add_argument("--out", type=Path, help=f"report folder (default {DEFAULT_OUT})")
    parser.add_argument(
        "--inventory", type=Path, help="use this collected inventory instead of running pytest"
    )
    return parser


def _resolve(root: Path, path: Path) -> Path:
    return path if path.is_absolute() else root / path


def main(argv: list[str] | None = None) -> int:
    options = _parser().parse_args(argv)
    root: Path = options.root.resolve()
    try:
        threshold = _threshold(options.threshold or os.environ.get(THRESHOLD_ENV))
    except argparse.ArgumentTypeError as exc:
        print(f"{PREFIX} error: {exc}", file=sys.stderr)
        return 2
    registry_path = _resolve(
        root, Path(options.registry or os.environ.get(REGISTRY_ENV) or DEFAULT_REGISTRY)
    )
    out = _resolve(root, options.out or DEFAULT_OUT)
    try:
        registry = load_registry(registry_path, root)
        res_paths = report_paths(root, options.results)
        results = read_merged(res_paths)
        if options.inventory is not None:
            inventory = read_inventory(options.inventory)
        else:
            out.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryDirectory(dir=out) as scratch:
                inventory = collect_inventory(
                    root, registry_path, options.paths, Path(scratch) / "inventory.json"
                )
    except RegistryError as exc:
        for line in exc.lines:
            print(f"{PREFIX} error: {line}", file=sys.stderr)
        return 2
    except (ResultsError, InventoryError) as exc:
        print(f"{PREFIX} error: {exc}", file=sys.stderr)
        return 2

    matrix = build_matrix(registry, inventory, results, threshold=threshold)
    shown = ", ".join(
        f"`{path.relative_to(root) if path.is_relative_to(root) else path}`" for path in res_paths
    )
    note = (
        f"Last results from {shown}."
        if results
        else f"No results at {shown}: tests show 'not run' (run a tier to record them)."
    )
    markdown = to_markdown(matrix, results_note=note)
    out.mkdir(parents=True, exist_ok=True)
    (out / "traceability.md").write_text(markdown, encoding="utf-8")
    (out / "traceability.json").write_text(
        json.dumps(to_json(matrix), indent=1) + "\n", encoding="utf-8"
    )
    summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if summary:
        with open(summary, "a", encoding="utf-8") as handle:
            handle.write(markdown + "\n")

    for line in matrix.problems():
        print(f"{PREFIX} {line}")
    for line in matrix.notes:
        print(f"{PREFIX} note: {line}")
    cov = matrix.coverage
    tiers = ", ".join(f"{tier} {c.covered}/{c.total}" for tier, c in matrix.tier_coverage().items())
    verdict = "PASS" if matrix.passed else "FAIL"
    print(
        f"{PREFIX} {verdict}: {cov.covered}/{cov.total} registered requirements have a test "
        f"({cov.percent:.1f}%, threshold {threshold:g}%; {tiers}); "
        f"{len(inventory.tests)} tests collected; report in {out}"
    )
    return 0 if matrix.passed else 1


if __name__ == "__main__":
    raise SystemExit(main())
