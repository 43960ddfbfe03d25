"""``python -m testing.cluster up`` as a user's terminal runs it, for the Ctrl-C tests."""

from __future__ import annotations

import subprocess
import sys


def start_up(env: dict[str, str]) -> subprocess.Popen[str]:
    """Start ``up`` in its own process group (a terminal's Ctrl-C reaches the whole group)."""
    return subprocess.Popen(
        [sys.executable, "-m", "testing.cluster", "up"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
