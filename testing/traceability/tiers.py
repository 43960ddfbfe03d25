"""Which test tier a file belongs to, decided by its path alone.

The tier is where the file lives (``tests/unit``, ``tests/integration``,
``tests/e2e``), not what it says about itself, so a test cannot opt out of the
stricter rules by omitting a marker. The registry, the pytest plugin and the
quality rules all ask here, so they can never disagree.
"""

from __future__ import annotations

from pathlib import Path, PurePath

#: Every tier a requirement or a test can have, from cheapest to most expensive.
TIERS: tuple[str, ...] = ("unit", "integration", "e2e")

#: Tiers that must trace every test to a requirement and may never skip.
GATED_TIERS: frozenset[str] = frozenset({"integration", "e2e"})

#: The tier of files under ``tests/`` but outside any tier folder (``tests/conftest.py``).
OTHER = "other"


def tier_of(path: PurePath, root: Path | None = None) -> str | None:
    """Return the tier of ``path``, ``"other"`` for the rest of ``tests/``, None outside it.

    The path is taken relative to ``root`` when it lies inside it; otherwise the
    last ``tests/<tier>`` pair in the path decides (a checkout may sit under a
    folder that is itself called ``tests``).
    """
    parts: tuple[str, ...] = path.parts
    if root is not None:
        try:
            parts = Path(path).resolve().relative_to(root.resolve()).parts
        except ValueError:
            parts = path.parts
    found: str | None = None
    for index, part in enumerate(parts[:-1]):
        if part == "tests":
            following = parts[index + 1]
            found = following if following in TIERS and index + 2 < len(parts) else OTHER
    return found


def is_gated(path: PurePath, root: Path | None = None) -> bool:
    """True for files in a tier that must trace to requirements and never skip."""
    return tier_of(path, root) in GATED_TIERS
