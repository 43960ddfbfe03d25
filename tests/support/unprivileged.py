"""Run this environment's Python as a user who is not root, for tests of what such a user sees.

CI runs as root here and as an ordinary user on GitHub. Tests of the second case
drop to ``nobody`` when they run as root (no uid is faked), and run as themselves
otherwise. The interpreter of a root-owned environment may live where ``nobody``
cannot reach (pyenv under ``/root``), so the system's interpreter of the same
version runs instead, with this environment's packages and the repository on its
path.
"""

from __future__ import annotations

import importlib.util
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


def not_root(site: Path | None = None, packages: tuple[str, ...] = ()) -> OtherUser:
    """``nobody`` with the system's interpreter when we are root; else ourselves.

    As ``nobody``, the Python path is this environment's packages, or, with ``site`` (a
    directory both users can read), copies there of ``packages`` and of the repository's
    ``testing`` package: a checkout under a private directory (``mktemp -d`` is 0700)
    cannot be read by ``nobody`` where it lies.
    """
    if os.geteuid() != 0:
        return OtherUser(uid=None, python=[sys.executable])
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    interpreter = Path(f"/usr/bin/python{version}")
    assert interpreter.exists(), f"{interpreter} is needed to run Python as nobody"
    if site is None:
        path = os.pathsep.join([str(REPO_ROOT), sysconfig.get_paths()["purelib"]])
    else:
        _copy_importable(site, packages)
        path = str(site)
    return OtherUser(uid=NOBODY, python=[str(interpreter), "-S"], env={"PYTHONPATH": path})


def _copy_importable(site: Path, packages: tuple[str, ...]) -> None:
    ignore = shutil.ignore_patterns("__pycache__")
    shutil.copytree(REPO_ROOT / "testing", site / "testing", ignore=ignore)
    for name in packages:
        spec = importlib.util.find_spec(name)
        if spec is None or spec.origin is None:
            raise ModuleNotFoundError(f"{name} is not importable here")
        origin = Path(spec.origin)
        if origin.name == "__init__.py":
            shutil.copytree(origin.parent, site / name, ignore=ignore)
        else:
            shutil.copy2(origin, site / origin.name)
    purelib = Path(sysconfig.get_paths()["purelib"])
    for info in purelib.glob("*.dist-info"):  # importlib.metadata finds versions here
        if info.name.lower().split("-")[0] in packages:
            shutil.copytree(info, site / info.name)
    for path in [site, *site.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)


@contextmanager
def shared_directory() -> Iterator[Path]:
    """A fresh directory both users may write (pytest's own tmp_path is root's, mode 0700)."""
    path = Path(tempfile.mkdtemp(prefix="ktp-other-user-"))
    path.chmod(0o777)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)
