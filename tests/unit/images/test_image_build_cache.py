"""The image cache is all-or-nothing: a build that fails or is interrupted (Ctrl-C)
leaves the cache exactly as it was, and only a finished build replaces an older one.

The recipe is a planted one (two small files in a layer) so that the failure can be
placed mid-build; the cache code, the archive writer and the scratch handling are the
real ones.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

import pytest

from testing import tools
from testing.images import build, recipes
from testing.images.archive import ImageConfig, Layer, LayerWriter
from testing.images.errors import ImageError

KEY = "planted"
OLD = b"an archive from an earlier build of the same image"


def _recipe(fail_with: BaseException | None) -> recipes.Recipe:
    def make(work: Path) -> tuple[list[Layer], ImageConfig]:
        layer = LayerWriter(work / "layer.tar")
        layer.file("/etc/hello", b"hello\n", 0o644)
        if fail_with is not None:
            raise fail_with
        layer.file("/etc/world", b"world\n", 0o644)
        return [layer.close()], ImageConfig(entrypoint=["/bin/true"], user="10001:10001")

    return recipes.Recipe(KEY, "ktp-planted", lambda: ["inputs"], make)


def _listing(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else ""
        for p in sorted(root.rglob("*"))
        if not p.name.endswith(".lock")  # the lock file stays, empty, by design
    }


@pytest.fixture
def cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Callable[[BaseException | None], Path]:
    monkeypatch.setenv(tools.CACHE_ENV, str(tmp_path))
    (tmp_path / "images").mkdir()
    (tmp_path / "images" / "ktp-planted-0ld0ld0ld0ld.tar").write_bytes(OLD)

    def plant(fail_with: BaseException | None) -> Path:
        monkeypatch.setitem(recipes.RECIPES, KEY, _recipe(fail_with))
        monkeypatch.setattr(build, "RECIPES", recipes.RECIPES)
        return tmp_path

    return plant


@pytest.mark.parametrize(
    "failure",
    [ImageError("mmdebstrap failed"), KeyboardInterrupt()],
    ids=["failed-build", "ctrl-c"],
)
def test_an_unfinished_build_leaves_the_cache_as_it_was(
    cache: Callable[[BaseException | None], Path], failure: BaseException
) -> None:
    root = cache(failure)
    before = _listing(root)
    with pytest.raises(type(failure)):
        build.build_archive(KEY, "ktp.local/ktp-planted:new0new0new0", say=lambda _: None)
    assert _listing(root) == before
    assert not list(root.glob("ktp-image-*"))  # no scratch directory left


def test_a_finished_build_replaces_the_older_archive(
    cache: Callable[[BaseException | None], Path],
) -> None:
    root = cache(None)
    said: list[str] = []
    archive = build.build_archive(KEY, "ktp.local/ktp-planted:new0new0new0", say=said.append)
    assert archive == root / "images" / "ktp-planted-new0new0new0.tar"
    assert sorted(p.name for p in (root / "images").glob("*.tar")) == [archive.name]
    assert not list(root.glob("ktp-image-*"))
    assert (
        said[0]
        == "images: building ktp.local/ktp-planted:new0new0new0 (first time for these inputs)"
    )
