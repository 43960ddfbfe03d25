"""Build an image archive into the cache once, or ``docker build`` one for the pinned source.

Archives live in ``<cache>/images/<name>-<tag>.tar``, each with its SBOM beside it
(``<name>-<tag>.cdx.json``, :mod:`testing.images.sbom`); a build writes into a scratch
directory and renames the finished file into place under a file lock, so parallel
runs build once and an interrupted or failed build leaves the cache as it was.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from pathlib import Path

from filelock import FileLock

from testing import pins, tools
from testing.images import sbom
from testing.images.archive import write_archive
from testing.images.errors import ImageError
from testing.images.recipes import RECIPES, Builder, run, scratch

DOCKER_BUILD_TIMEOUT_S = 1800
LOCK_TIMEOUT_S = 3600


def cache_root() -> Path:
    return tools.cache_dir() / "images"


def archive_path(name: str, ref: str) -> Path:
    """Where the archive of ``ref`` is cached, whether or not it is built yet."""
    return cache_root() / f"{name}-{ref.rsplit(':', 1)[-1]}.tar"


def build_archive(key: str, ref: str, *, say: Callable[[str], None]) -> Path:
    """The cached archive of ``key`` tagged ``ref``, built first if missing."""
    return cached_archive(RECIPES[key].name, ref, RECIPES[key].build, say=say)


def cached_archive(name: str, ref: str, build: Builder, *, say: Callable[[str], None]) -> Path:
    """``<cache>/images/<name>-<tag>.tar``, written by ``build`` once for these inputs."""
    target = archive_path(name, ref)
    if target.is_file() and sbom.sbom_path(target).is_file():
        return target
    cache_root().mkdir(parents=True, exist_ok=True)
    with FileLock(str(cache_root() / f".{name}.lock"), timeout=LOCK_TIMEOUT_S):
        if target.is_file():
            if not sbom.sbom_path(target).is_file():  # built before SBOMs were written
                say(f"images: writing the SBOM of {ref}")
                sbom.write(target, go=shutil.which("go"))
            return target
        started = time.monotonic()
        say(f"images: building {ref} (first time for these inputs)")
        with scratch() as work_dir:
            work = Path(work_dir)
            layers, config = build(work)
            staging = work / "image.tar"
            write_archive(staging, ref, layers, config)
            shutil.move(str(staging), str(target.with_suffix(".part")))
            target.with_suffix(".part").rename(target)
        sbom.write(target, go=shutil.which("go"))
        # Older builds of the same image are dead weight (a tests image is over 1 GiB).
        for stale in cache_root().glob(f"{name}-*"):
            if stale.suffix in (".tar", ".json") and stale not in (target, sbom.sbom_path(target)):
                stale.unlink(missing_ok=True)
        size = target.stat().st_size / 2**20
        say(f"images: built {ref} in {time.monotonic() - started:.0f}s ({size:.0f} MiB)")
    return target


def docker_build(key: str, ref: str, dockerfile: str, *, say: Callable[[str], None]) -> None:
    """``docker build`` the demo or test-runner image on the pinned python base."""
    docker = shutil.which("docker")
    if docker is None:
        raise ImageError(
            f"docker is not on PATH: it builds {ref} for TEST_IMAGE_SOURCE=pinned "
            "(or use TEST_IMAGE_SOURCE=built)"
        )
    say(f"images: docker build {ref} from {dockerfile}")
    run(
        [
            docker,
            "build",
            "--tag",
            ref,
            "--file",
            str(pins.REPO_ROOT / dockerfile),
            "--build-arg",
            f"PYTHON_IMAGE={pins.pin('images', 'python')}",
            str(pins.REPO_ROOT),
        ],
        what=f"docker build of {ref}",
        timeout=DOCKER_BUILD_TIMEOUT_S,
    )
