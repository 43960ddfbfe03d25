"""Image archives written without Docker: layout, digests, determinism, content tags."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import tarfile
from pathlib import Path

import pytest

from testing import images
from testing.images import recipes
from testing.images.archive import ImageConfig, LayerWriter, write_archive


def _archive(tmp_path: Path, name: str) -> Path:
    work = tmp_path / name
    work.mkdir()
    layer = LayerWriter(work / "layer.tar")
    layer.file("/usr/bin/hello", b"#!/bin/sh\necho hi\n", 0o755)
    layer.directory("/tmp", 0o1777)
    layer.symlink("/bin/hi", "/usr/bin/hello")
    config = ImageConfig(entrypoint=["/usr/bin/hello"], env={"A": "1"}, user="10001:10001")
    out = work / "image.tar"
    write_archive(out, "ktp.local/hello:abc", [layer.close()], config)
    return out


def test_archive_is_a_loadable_docker_archive_with_an_oci_index(tmp_path: Path) -> None:
    with tarfile.open(_archive(tmp_path, "a")) as tar:
        manifest = json.loads(tar.extractfile("manifest.json").read())  # type: ignore[union-attr]
        (entry,) = manifest
        assert entry["RepoTags"] == ["ktp.local/hello:abc"]
        config = json.loads(tar.extractfile(entry["Config"]).read())  # type: ignore[union-attr]
        assert config["config"]["Entrypoint"] == ["/usr/bin/hello"]
        assert config["config"]["Env"] == ["A=1"]
        assert config["config"]["User"] == "10001:10001"
        for path, diff_id in zip(entry["Layers"], config["rootfs"]["diff_ids"], strict=True):
            blob = tar.extractfile(path).read()  # type: ignore[union-attr]
            assert f"sha256:{hashlib.sha256(blob).hexdigest()}" == diff_id
        index = json.loads(tar.extractfile("index.json").read())  # type: ignore[union-attr]
        annotations = index["manifests"][0]["annotations"]
        assert annotations["io.containerd.image.name"] == "ktp.local/hello:abc"


def test_same_inputs_give_the_same_bytes(tmp_path: Path) -> None:
    assert _archive(tmp_path, "a").read_bytes() == _archive(tmp_path, "b").read_bytes()


def test_a_changed_input_changes_the_tag_and_nothing_else_does(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    original = recipes.content_tag("pause")
    assert recipes.content_tag("pause") == original
    changed = dataclasses.replace(recipes.RECIPES["pause"], inputs=lambda: ["another pause.c"])
    monkeypatch.setitem(recipes.RECIPES, "pause", changed)
    assert recipes.content_tag("pause") != original
    assert images.reference("pause", "built") == f"ktp.local/pause:{recipes.content_tag('pause')}"


def test_source_choice_is_explicit_and_a_bad_value_is_one_line() -> None:
    assert images.choose_source("local", {}).source == "built"
    answers, silent = (lambda image: None), (lambda image: "the registry x does not answer")
    assert images.choose_source("kind", {}, unreachable=answers).source == "pinned"
    chosen = images.choose_source("kind", {}, unreachable=silent)
    assert chosen.source == "built"
    assert chosen.reason.startswith("the registry x does not answer, so the node image")
    assert "TEST_IMAGE_SOURCE=pinned" in chosen.reason
    explicit = images.choose_source("kind", {"TEST_IMAGE_SOURCE": "pinned"}, unreachable=silent)
    assert explicit.source == "pinned"
    assert images.choose_source("local", {"TEST_IMAGE_SOURCE": "pinned"}).source == "pinned"
    with pytest.raises(images.ImageError, match="choose one of pinned, built"):
        images.choose_source("kind", {"TEST_IMAGE_SOURCE": "latest"})
