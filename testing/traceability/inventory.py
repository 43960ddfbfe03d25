"""Which tests exist and which requirement ids each one names, as pytest itself collects them.

pytest's own collection is the source of truth: it resolves class and module
markers (``pytestmark``), parametrisation and conftest hooks, which a static scan
would have to imitate. Collection imports test modules but runs no fixture, so
collecting ``tests/integration`` and ``tests/e2e`` needs no cluster. The pytest
plugin (``--requirements-inventory=PATH``) writes the inventory; this module
runs that collection in a subprocess and reads the result.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

INVENTORY_OPTION = "--requirements-inventory"
COLLECT_TIMEOUT_S = 600
VERSION = 1


class InventoryError(RuntimeError):
    """Collection could not produce an inventory; the message says why."""


@dataclass(frozen=True)
class CollectedTest:
    nodeid: str
    file: str
    line: int
    name: str
    tier: str | None
    requirements: tuple[str, ...]


@dataclass
class Inventory:
    tests: list[CollectedTest] = field(default_factory=list)
    #: Collection errors (nodeid, first line of the error): their tests are invisible.
    errors: list[tuple[str, str]] = field(default_factory=list)


def write_inventory(path: Path, inventory: Inventory) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    data = {
        "version": VERSION,
        "tests": [asdict(t) for t in inventory.tests],
        "errors": [{"nodeid": n, "message": m} for n, m in inventory.errors],
    }
    path.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")


def _test(raw: Any) -> CollectedTest:
    return CollectedTest(
        nodeid=str(raw["nodeid"]),
        file=str(raw["file"]),
        line=int(raw["line"]),
        name=str(raw["name"]),
        tier=None if raw["tier"] is None else str(raw["tier"]),
        requirements=tuple(str(r) for r in raw["requirements"]),
    )


def read_inventory(path: Path) -> Inventory:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("version") != VERSION:
            raise ValueError(f"version {data.get('version')!r}, expected {VERSION}")
        return Inventory(
            tests=[_test(raw) for raw in data["tests"]],
            errors=[(str(e["nodeid"]), str(e["message"])) for e in data["errors"]],
        )
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise InventoryError(f"{path}: not a usable test inventory: {exc}") from None


def collect_inventory(
    root: Path,
    registry: Path,
    paths: Sequence[str],
    out: Path,
    *,
    timeout: float = COLLECT_TIMEOUT_S,
) -> Inventory:
    """Run ``pytest --collect-only`` under ``root`` and return what it collected."""
    out.unlink(missing_ok=True)
    argv = [
        sys.executable,
        "-m",
        "pytest",
        "--collect-only",
        "-q",
        "-p",
        "no:cacheprovider",
        "--continue-on-collection-errors",
        f"--rootdir={root}",
        f"--requirements-registry={registry}",
        f"{INVENTORY_OPTION}={out}",
        *paths,
    ]
    try:
        proc = subprocess.run(
            argv, cwd=root, capture_output=True, text=True, timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired:
        raise InventoryError(f"collecting tests took longer than {timeout:.0f}s") from None
    if not out.is_file():
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-15:])
        raise InventoryError(
            f"pytest --collect-only wrote no inventory (exit {proc.returncode}); is the "
            f"testing package installed in this environment? Its output ended with:\n{tail}"
        )
    return read_inventory(out)
