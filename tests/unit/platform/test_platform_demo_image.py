"""deploy builds the demo image with the pinned base and loads it into the cluster.

A scripted ``docker`` on PATH stands in for the Docker CLI: a real build needs the base
image from a registry, which this machine cannot reach. The script records its argv.
"""

from __future__ import annotations

import json
import os
import stat
import sys
from pathlib import Path

import pytest

from testing import pins
from testing.cluster.base import ClusterConfig
from testing.cluster.kwok import KwokProvider
from testing.platform.deploy import PlatformError, ensure_local_images

FAKE_DOCKER = """#!{python}
import json, os, sys
with open(os.environ["FAKE_DOCKER_LOG"], "a") as log:
    log.write(json.dumps(sys.argv[1:]) + "\\n")
if sys.argv[1:3] == ["image", "inspect"]:
    sys.exit(int(os.environ.get("FAKE_DOCKER_INSPECT_RC", "1")))
if sys.argv[1] == "build":
    print(os.environ.get("FAKE_DOCKER_BUILD_ERR", ""), file=sys.stderr)
    sys.exit(int(os.environ.get("FAKE_DOCKER_BUILD_RC", "0")))
"""


class RecordingProvider(KwokProvider):
    """The kwok provider, with image loads recorded instead of ignored."""

    def __init__(self, config: ClusterConfig) -> None:
        super().__init__(config)
        self.loaded: list[str] = []

    def load_image(self, image: str) -> None:
        self.loaded.append(image)


@pytest.fixture
def docker_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    docker = bin_dir / "docker"
    docker.write_text(FAKE_DOCKER.format(python=sys.executable))
    docker.chmod(docker.stat().st_mode | stat.S_IEXEC)
    log = tmp_path / "docker.log"
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_DOCKER_LOG", str(log))
    return log


def calls(log: Path) -> list[list[str]]:
    return [json.loads(line) for line in log.read_text().splitlines()]


def test_missing_image_is_built_from_the_pinned_base_then_loaded(
    docker_log: Path, tmp_path: Path
) -> None:
    provider = RecordingProvider(ClusterConfig(name="img", state_dir=tmp_path / "state"))

    ensure_local_images(provider)

    inspect, build = calls(docker_log)
    assert inspect == ["image", "inspect", "ktp-demo:dev"]
    assert build[:5] == [
        "build",
        "--tag",
        "ktp-demo:dev",
        "--file",
        str(pins.REPO_ROOT / "demo/Dockerfile"),
    ]
    assert build[5:] == [
        "--build-arg",
        f"PYTHON_IMAGE={pins.pin('images', 'python')}",
        str(pins.REPO_ROOT),
    ]
    assert "@sha256:" in pins.pin("images", "python")
    assert provider.loaded == ["ktp-demo:dev"]


def test_present_image_is_only_loaded(
    docker_log: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_DOCKER_INSPECT_RC", "0")
    provider = RecordingProvider(ClusterConfig(name="img", state_dir=tmp_path / "state"))

    ensure_local_images(provider)

    assert calls(docker_log) == [["image", "inspect", "ktp-demo:dev"]]
    assert provider.loaded == ["ktp-demo:dev"]


def test_failed_build_is_one_line_and_loads_nothing(
    docker_log: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_DOCKER_BUILD_RC", "1")
    monkeypatch.setenv("FAKE_DOCKER_BUILD_ERR", "ERROR: failed to resolve source metadata")
    provider = RecordingProvider(ClusterConfig(name="img", state_dir=tmp_path / "state"))

    with pytest.raises(PlatformError) as caught:
        ensure_local_images(provider)

    assert str(caught.value) == (
        "docker build of ktp-demo:dev failed: ERROR: failed to resolve source metadata"
    )
    assert provider.loaded == []
