"""Yes/no settings read from the environment, parsed one way by the noxfile and the plugin.

``TEST_KEEP_CLUSTER=0`` must mean "no" everywhere; a value that is neither yes nor no is
an error naming the variable, never a silent guess. Standard library only: the noxfile
imports it before any environment is installed.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

YES = frozenset({"1", "true", "yes", "on"})
NO = frozenset({"", "0", "false", "no", "off"})


class FlagError(ValueError):
    """An environment variable meant as yes/no holds something else."""


def flag(name: str, environ: Mapping[str, str] | None = None) -> bool:
    """``True`` for 1/true/yes/on, ``False`` for unset, empty or 0/false/no/off."""
    env = os.environ if environ is None else environ
    raw = env.get(name, "")
    value = raw.strip().lower()
    if value in YES:
        return True
    if value in NO:
        return False
    raise FlagError(f"{name}={raw!r} is not a yes/no value: set it to 1 or 0")
