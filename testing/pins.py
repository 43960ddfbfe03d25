"""The pinned tool versions and image digests, read from the one pin file under ``k8s/``.

Every module that needs a version asks here, so a bump is a one-line change in
``k8s/versions.toml`` and nowhere else. Shell scripts and workflows ask too, through
a command line that needs nothing but Python's standard library::

    python3 -m testing.pins requirement nox uv   # nox==2026.10.20 uv==0.13.9
    python3 -m testing.pins get ci-tools go      # 1.26
"""

from __future__ import annotations

import functools
import os
import sys
import tomllib
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
PINS_FILE_ENV = "TEST_PINS_FILE"


class PinError(RuntimeError):
    """The pin file is missing, malformed, or lacks a key someone asked for."""


def pins_path() -> Path:
    return Path(os.environ.get(PINS_FILE_ENV, REPO_ROOT / "k8s" / "versions.toml"))


@functools.cache
def _load(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        raise PinError(f"pin file {path} not found; set {PINS_FILE_ENV} or restore it") from None
    except tomllib.TOMLDecodeError as exc:
        raise PinError(f"pin file {path} is not valid TOML: {exc}") from None


def pin(section: str, key: str = "version") -> str:
    """Return one pinned value, e.g. ``pin("kind")`` or ``pin("kind", "node_image")``."""
    path = pins_path()
    value = _load(path).get(section, {}).get(key)
    if not isinstance(value, str) or not value:
        raise PinError(f'{path} has no [{section}] {key} = "..." entry')
    return value


def section(name: str) -> dict[str, str]:
    """Return a whole section as a string mapping (for example every service image)."""
    path = pins_path()
    data = _load(path).get(name)
    if not isinstance(data, dict):
        raise PinError(f"{path} has no [{name}] section")
    return {str(k): str(v) for k, v in data.items()}


_USAGE = "usage: python3 -m testing.pins requirement NAME... | get SECTION [KEY]"


def requirement(name: str) -> str:
    """``NAME==VERSION`` for a Python tool pinned in ``[ci-tools]``."""
    return f"{name}=={pin('ci-tools', name)}"


def main(argv: list[str]) -> int:
    match argv:
        case ["requirement", *names] if names:
            lines = [requirement(name) for name in names]
        case ["get", section_name]:
            lines = [pin(section_name)]
        case ["get", section_name, key]:
            lines = [pin(section_name, key)]
        case _:
            print(_USAGE, file=sys.stderr)
            return 2
    print(" ".join(lines))
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except PinError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(1)
