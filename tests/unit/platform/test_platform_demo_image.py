"""How deploy makes its images available, and the demo Jobs' image (a regression).

The provider is a recorder (no cluster); ``testing.images.ensure`` is replaced by a
function that returns what a real build or pull would, so what is tested here is the
routing: archives are loaded, Docker-built images are loaded from Docker, pinned
service images are left to the node's runtime, and errors become one PlatformError.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest

from demo.cluster import job_objects
from testing import images
from testing.platform import PlatformError
from testing.platform import deploy as deploy_module
from testing.platform.deploy import ensure_images
from testing.platform.manifests import image_map

PLACEHOLDERS = ("postgres", "minio", "minio-mc", "ktp-demo:dev", "ktp-tests:dev")


class RecordingProvider:
    def __init__(self) -> None:
        self.archives: list[Path] = []
        self.images: list[str] = []

    def load_image_archive(self, archive: Path) -> None:
        self.archives.append(archive)

    def load_image(self, image: str) -> None:
        self.images.append(image)


def _fake_ensure(result: dict[str, Path | None]) -> Any:
    def ensure(keys: Iterable[str], source: str, **_: Any) -> dict[str, Path | None]:
        return {key: result[key] for key in keys}

    return ensure


def test_built_archives_are_loaded_into_the_nodes(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv(images.IMAGE_SOURCE_ENV, "built")
    archives = {key: tmp_path / f"{key}.tar" for key in ("postgres", "minio", "minio-mc", "demo")}
    monkeypatch.setattr(images, "ensure", _fake_ensure(dict(archives)))
    provider = RecordingProvider()
    assert ensure_images(provider) == "built"  # type: ignore[arg-type]
    assert provider.archives == list(archives.values())
    assert provider.images == []


def test_pinned_source_loads_only_the_docker_built_demo_image(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(images.IMAGE_SOURCE_ENV, "pinned")
    monkeypatch.delenv("DEMO_IMAGE", raising=False)
    nothing: dict[str, Path | None] = dict.fromkeys(("postgres", "minio", "minio-mc", "demo"))
    monkeypatch.setattr(images, "ensure", _fake_ensure(nothing))
    provider = RecordingProvider()
    assert ensure_images(provider) == "pinned"  # type: ignore[arg-type]
    assert provider.archives == []
    assert provider.images == ["ktp-demo:dev"]


def test_an_image_error_is_one_platform_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(images.IMAGE_SOURCE_ENV, "built")

    def broken(keys: Iterable[str], source: str, **_: Any) -> dict[str, Path | None]:
        raise images.ImageError("mmdebstrap is not installed: `apt-get install mmdebstrap`")

    monkeypatch.setattr(deploy_module.images, "ensure", broken)
    with pytest.raises(PlatformError, match="apt-get install mmdebstrap"):
        ensure_images(RecordingProvider())  # type: ignore[arg-type]


def test_a_bad_image_source_is_one_platform_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(images.IMAGE_SOURCE_ENV, "latest")
    with pytest.raises(PlatformError, match="choose one of pinned, built"):
        ensure_images(RecordingProvider())  # type: ignore[arg-type]


def test_built_source_maps_every_placeholder_to_a_content_addressed_image(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("DEMO_IMAGE", raising=False)
    monkeypatch.delenv("TEST_RUNNER_IMAGE", raising=False)
    mapping = image_map(source="built")
    for placeholder in PLACEHOLDERS:
        registry, _, tag = mapping[placeholder].partition("/")
        assert registry == "ktp.local", placeholder
        assert len(tag.rsplit(":", 1)[1]) == 12, placeholder


def test_demo_jobs_ask_for_the_rendered_image_not_the_placeholder() -> None:
    """Regression: the Jobs always asked for ``ktp-demo:dev`` whatever was built and loaded."""
    mapping = {p: f"example.test/{p.replace(':', '-')}:1" for p in PLACEHOLDERS}
    jobs = job_objects(1000, images=mapping)
    assert len(jobs) == 3
    for job in jobs:
        pod = job["spec"]["template"]["spec"]
        assert [c["image"] for c in pod["containers"]] == ["example.test/ktp-demo-dev:1"]
        env = {e["name"]: e.get("value") for e in pod["containers"][0]["env"]}
        assert env["DEMO_SEED_SCALE"] == "1000"
