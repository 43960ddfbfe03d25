"""Run this environment's Python as a user who is not root, for tests of what such a user sees.

CI runs as root here and as an ordinary user on GitHub. Tests of the second case
drop to ``nobody`` when they run as root (no uid is faked), and run as themselves
otherwise. The interpreter of a root-owned environment may live where ``nobody``
cannot reach (pyenv under ``/root``), so the system's interpreter of the same
version runs instead, with this environment's packages and the repository on its
path.
"""

from __future__ import annotations

import os
import shutil
import sys
import sysconfig
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
NOBODY = 65534


@dataclass(frozen=True)
class OtherUser:
    """Who runs (``uid`` None: this process's own user) and the Python that user can run."""

    uid: int | None
    python: list[str]
    env: dict[str, str] = field(default_factory=dict)

    @property
    def subprocess_options(self) -> dict[str, object]:
        if self.uid is None:
            return {}
        return {"user": self.uid, "group": self.uid, "extra_groups": []}


def not_root() -> OtherUser:
    """``nobody`` with the system's interpreter when we are root; else ourselves."""
    if os.geteuid() != 0:
        return OtherUser(uid=None, python=[sys.executable])
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    interpreter = Path(f"/usr/bin/python{version}")
    assert interpreter.exists(), f"{interpreter} is needed to run Python as nobody"
    packages = sysconfig.get_paths()["purelib"]
    return OtherUser(
        uid=NOBODY,
        python=[str(interpreter), "-S"],
        env={"PYTHONPATH": os.pathsep.join([str(REPO_ROOT), packages])},
    )


@contextmanager
def shared_directory() -> Iterator[Path]:
    """A fresh directory both users may write (pytest's own tmp_path is root's, mode 0700)."""
    path = Path(tempfile.mkdtemp(prefix="ktp-other-user-"))
    path.chmod(0o777)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)
