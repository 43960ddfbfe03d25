"""The REAL kind binary (built from source at the pinned version) against a REAL dockerd.

The daemon is the one that answers (a GitHub runner's, a laptop's), or, where none
does and we are root, a private ``dockerd`` started for this module
(``testing.cluster.docker_daemon``). Either way nothing here pulls: the node image is
named on a registry address where nothing listens, so "the node image cannot be
pulled" holds on every machine, connected or not, and any daemon's other clusters and
images are left alone. A cluster that really runs is the e2e tier's business.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from testing import pins, tools
from testing.cluster.base import ClusterConfig
from testing.cluster.docker_daemon import UNPULLABLE_REGISTRY, DockerDaemon, docker_daemon
from testing.cluster.kind import KindProvider
from testing.cluster.kind_cli import (
    ContainerRuntimeUnavailableError,
    KindCLI,
    NodeImageUnavailableError,
    check_container_runtime,
)

PINNED = pins.pin("kind", "node_image")
IMAGE = f"{UNPULLABLE_REGISTRY}/{PINNED}"


def _exe(name: str) -> str:
    found = shutil.which(name)
    assert found is not None, f"{name} is not installed: apt-get install docker.io"
    return found


@pytest.fixture(scope="module")
def daemon() -> Iterator[DockerDaemon]:
    with docker_daemon() as running:
        yield running


@pytest.fixture(scope="module")
def kind_binary() -> Path:
    """kind built by ``go install sigs.k8s.io/kind@<pin>`` into the project cache."""
    return tools.resolve("kind")


@pytest.fixture
def cluster_name() -> Iterator[str]:
    name = f"real-{uuid.uuid4().hex[:8]}"
    yield name
    shutil.rmtree(ClusterConfig(name=name).diagnostics_dir, ignore_errors=True)


def _docker_kind_labels(daemon: DockerDaemon) -> list[str]:
    """The kind cluster names Docker itself knows, asked without kind."""
    result = subprocess.run(
        [_exe("docker"), "ps", "-a", "--filter", "label=io.x-k8s.kind.cluster",
         "--format", '{{.Label "io.x-k8s.kind.cluster"}}'],
        env={**os.environ, **daemon.env}, capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    return sorted({line for line in result.stdout.splitlines() if line})


@pytest.mark.requirement("CLU-001")
def test_real_kind_version_matches_the_pin(kind_binary: Path) -> None:
    cli = KindCLI(kind_binary)
    assert cli.version() == pins.pin("kind") == "v0.32.0"
    cli.check_version()
    assert kind_binary.parent.name == "kind-v0.32.0"


@pytest.mark.requirement("CLU-002")
def test_real_get_clusters_lists_what_docker_knows(kind_binary: Path, daemon: DockerDaemon) -> None:
    """kind's list is Docker's own; on a private daemon, fresh for this module, it is empty."""
    installed = subprocess.run(
        [_exe("dockerd"), "--version"], capture_output=True, text=True, timeout=30, check=True
    ).stdout
    assert check_container_runtime(daemon.env) == daemon.version
    assert f"Docker version {daemon.version}," in installed
    cli = KindCLI(kind_binary, env=daemon.env)
    clusters = cli.get_clusters()
    assert clusters == _docker_kind_labels(daemon)
    if daemon.private:
        assert clusters == []


@pytest.mark.requirement("CLU-003")
def test_real_create_without_a_pullable_node_image_is_typed_and_leaves_nothing(
    kind_binary: Path, daemon: DockerDaemon, cluster_name: str, tmp_path: Path
) -> None:
    config = ClusterConfig(name=cluster_name, state_dir=tmp_path / "state")
    provider = KindProvider(
        config, env=daemon.env, cli=KindCLI(kind_binary, env=daemon.env), node_image=IMAGE
    )
    with pytest.raises(NodeImageUnavailableError) as info:
        provider.create(wait_seconds=60)
    message = str(info.value)
    assert message.startswith(f"node image {IMAGE} cannot be pulled")
    assert f"docker pull {IMAGE}" in message
    assert "docker load -i kind-node.tar" in message
    assert "\n" not in message
    # kind's own words, captured from the real failure
    assert f'failed to pull image "{IMAGE}"' in info.value.output_tail
    # kind validates k8s/kind-config.yaml before it pulls: the real kind accepted it
    assert f"Ensuring node image ({UNPULLABLE_REGISTRY}/kindest/node:v1.36.1)" in (
        info.value.output_tail
    )
    assert "kind-create.log" in os.listdir(config.diagnostics_dir)
    assert not provider.exists()
    assert cluster_name not in _docker_kind_labels(daemon)
    assert not config.kubeconfig.exists()


@pytest.mark.requirement("CLU-004")
def test_real_unreachable_runtime_is_one_typed_line(kind_binary: Path, tmp_path: Path) -> None:
    dead = {"DOCKER_HOST": f"unix://{tmp_path / 'no-daemon.sock'}"}
    with pytest.raises(ContainerRuntimeUnavailableError) as precheck:
        check_container_runtime(dead)
    with pytest.raises(ContainerRuntimeUnavailableError) as from_kind:
        KindCLI(kind_binary, env=dead).get_clusters()
    for error in (precheck.value, from_kind.value):
        message = str(error)
        assert message.startswith("the docker daemon is not reachable (")
        assert f"Cannot connect to the Docker daemon at {dead['DOCKER_HOST']}" in message
        assert "\n" not in message


@pytest.mark.requirement("CLU-011")
def test_real_cli_up_fails_in_one_line_naming_the_image(
    kind_binary: Path, daemon: DockerDaemon, cluster_name: str, tmp_path: Path
) -> None:
    # The pin file is the input that names the node image: a copy names the unpullable one.
    pin_file = tmp_path / "versions.toml"
    pin_file.write_text(pins.pins_path().read_text().replace(f'"{PINNED}"', f'"{IMAGE}"'))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KIND_", "TEST_"))}
    env |= daemon.env | {
        "KIND_PATH": str(kind_binary),
        "TEST_CLUSTER_PROVIDER": "kind",
        "TEST_CLUSTER_NAME": cluster_name,
        "TEST_STATE_DIR": str(tmp_path / "state"),
        "TEST_PINS_FILE": str(pin_file),
        "TEST_IMAGE_SOURCE": "pinned",  # the pinned node image, not one built here
    }
    result = subprocess.run(
        [sys.executable, "-m", "testing.cluster", "up"],
        env=env, cwd=pins.REPO_ROOT, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1
    assert errors[0].startswith(f"error: node image {IMAGE} cannot be pulled")
    assert result.stdout == ""
    assert cluster_name not in _docker_kind_labels(daemon)


@pytest.mark.requirement("CLU-012")
def test_real_delete_of_an_absent_cluster_succeeds_and_keeps_home_untouched(
    kind_binary: Path, daemon: DockerDaemon, cluster_name: str, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    env = daemon.env | {"HOME": str(home), "KUBECONFIG": ""}
    config = ClusterConfig(name=cluster_name, state_dir=tmp_path / "state")
    config.cluster_dir.mkdir(parents=True)
    config.kubeconfig.write_text("stale")
    provider = KindProvider(config, env=env, cli=KindCLI(kind_binary, env=env))
    provider.delete()
    assert not config.cluster_dir.exists()
    assert list(home.iterdir()) == []  # kind wrote no ~/.kube/config
