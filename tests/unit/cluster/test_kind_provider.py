"""KindProvider: create-or-reuse, Ctrl-C and failure cleanup, diagnostics, podman.

kind and docker are the scripted fakes of fake_kind.py, because no cluster can be
created in a unit test (CLU-014 also stands in for the node image's build and the
Kubernetes binaries, and CLU-016 for the host-state calls that rewrite iptables).
The kubeconfig the fake writes points at a local HTTP server that answers like a
ready API server, so the real readiness wait runs end to end.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from fake_kind import (
    DAEMON_DOWN,
    KIND_VERSION_OUT,
    NAME_TAKEN,
    PULL_FAILED,
    WAIT_RAN_OUT,
    FakeCommand,
    kubeconfig_for,
    path_with,
    ready_api,
)

from testing import images, pins, runc_wrapper
from testing.cluster import get_provider, k8s_binaries, podman_setup
from testing.cluster.base import ClusterConfig, ClusterError
from testing.cluster.k8s_binaries import K8sBinaries
from testing.cluster.kind import CGROUP_V1_PATCH, KIND_CONFIG, KindProvider
from testing.cluster.kind_cli import (
    ClusterNameConflictError,
    ContainerRuntimeUnavailableError,
    KindTimeoutError,
    NodeImageUnavailableError,
)
from testing.cluster.podman_setup import PodmanPaths
from testing.images import kind_node

IMAGE = pins.pin("kind", "node_image")


@dataclass(frozen=True)
class _Config(ClusterConfig):
    """Diagnostics under the test's tmp dir instead of the repository's artifacts/."""

    diagnostics_root: Path = Path()

    @property
    def diagnostics_dir(self) -> Path:
        return self.diagnostics_root / self.name


@dataclass
class Env:
    kind: FakeCommand
    docker: FakeCommand
    config: _Config
    server: str
    seen: list[str]

    def provider(self, **extra: str) -> KindProvider:
        return KindProvider(self.config, env={"PATH": path_with(self.kind.bin_dir), **extra})

    def kind_calls(self) -> list[list[str]]:
        return [argv for argv in self.kind.calls() if argv != ["version"]]


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Env]:
    monkeypatch.delenv("KIND_PATH", raising=False)
    monkeypatch.delenv("KIND_EXPERIMENTAL_PROVIDER", raising=False)
    monkeypatch.setenv("TEST_CACHE_DIR", str(tmp_path / "cache"))
    # The pinned node image, and a Docker the user chose: no registry probe, no own dockerd.
    monkeypatch.setenv("TEST_IMAGE_SOURCE", "pinned")
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
    monkeypatch.setenv("CONTAINERS_CONF", str(tmp_path / "users-containers.conf"))
    bin_dir = tmp_path / "bin"
    kind = FakeCommand(bin_dir, "kind").on("version", stdout=KIND_VERSION_OUT)
    docker = FakeCommand(bin_dir, "docker").on("info", stdout="20.10.24\n")
    config = _Config(name="t1", state_dir=tmp_path / "state", diagnostics_root=tmp_path / "diag")
    with ready_api() as (server, seen):
        yield Env(kind, docker, config, server, seen)


def _create_argv(env: Env) -> list[str]:
    return [
        "create", "cluster", "--name", "t1", "--config", str(KIND_CONFIG), "--image", IMAGE,
        "--wait", "180s", "--kubeconfig", str(env.config.kubeconfig), "--retain",
    ]  # fmt: skip


@pytest.mark.requirement("CLU-005")
def test_up_creates_with_the_pinned_image_and_a_project_local_kubeconfig(env: Env) -> None:
    env.kind.on("get", "clusters", stderr="No kind clusters found.\n")
    env.kind.on("create", "cluster", write_file=kubeconfig_for(env.server))
    path = env.provider().create(wait_seconds=300)
    assert path == env.config.kubeconfig
    assert env.kind_calls() == [["get", "clusters"], _create_argv(env)]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert env.server in path.read_text()
    # the real readiness wait asked the API server both of its questions
    assert env.seen[0].startswith("/readyz")
    assert "/api/v1/namespaces/default/serviceaccounts/default" in env.seen


@pytest.mark.requirement("CLU-005")
def test_up_reuses_an_existing_cluster_without_a_second_create(env: Env) -> None:
    env.kind.on("get", "clusters", stdout="other\nt1\n")
    env.kind.on("get", "kubeconfig", stdout=kubeconfig_for(env.server))
    path = env.provider().create()
    assert env.kind_calls() == [["get", "clusters"], ["get", "kubeconfig", "--name", "t1"]]
    assert env.server in path.read_text()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


@pytest.mark.requirement("CLU-008")
def test_a_reused_cluster_that_is_not_ready_keeps_its_nodes_and_exports_logs(env: Env) -> None:
    env.kind.on("get", "clusters", stdout="t1\n")
    env.kind.on("get", "kubeconfig", stdout=kubeconfig_for("http://127.0.0.1:9"))
    env.kind.on("export", "logs")
    diagnostics = env.config.diagnostics_dir
    with pytest.raises(ClusterError) as info:
        env.provider().create(wait_seconds=1)
    assert "127.0.0.1:9" in str(info.value)
    assert str(info.value).endswith(f"(diagnostics: {diagnostics})")
    assert env.kind_calls()[-1] == [
        "export",
        "logs",
        str(diagnostics / "kind-logs"),
        "--name",
        "t1",
    ]
    assert not any(argv[:2] == ["delete", "cluster"] for argv in env.kind_calls())


@pytest.mark.requirement("CLU-006")
def test_ctrl_c_during_create_deletes_the_half_made_cluster(env: Env) -> None:
    env.kind.on("get", "clusters")
    env.kind.on("create", "cluster", interrupt_parent=True)
    env.kind.on("delete", "cluster")
    with pytest.raises(KeyboardInterrupt):
        env.provider().create()
    assert env.kind_calls() == [
        ["get", "clusters"],
        _create_argv(env),
        ["delete", "cluster", "--name", "t1", "--kubeconfig", str(env.config.kubeconfig)],
    ]
    assert not env.config.kubeconfig.exists()


@pytest.mark.requirement("CLU-008")
def test_unpullable_image_exports_logs_then_deletes_and_says_where(env: Env) -> None:
    env.kind.on("get", "clusters", once=True)  # before create: absent
    env.kind.on("create", "cluster", stderr=PULL_FAILED.format(name="t1", image=IMAGE), exit=1)
    env.kind.on("get", "clusters", stdout="t1\n")  # --retain kept the failed node
    env.kind.on("export", "logs").on("delete", "cluster")
    diagnostics = env.config.diagnostics_dir
    with pytest.raises(NodeImageUnavailableError) as info:
        env.provider().create()
    message = str(info.value)
    assert message.startswith(f"node image {IMAGE} cannot be pulled")
    assert "docker load -i kind-node.tar" in message
    assert message.endswith(f"(diagnostics: {diagnostics})")
    assert env.kind_calls()[2:] == [
        ["get", "clusters"],
        ["export", "logs", str(diagnostics / "kind-logs"), "--name", "t1"],
        ["delete", "cluster", "--name", "t1", "--kubeconfig", str(env.config.kubeconfig)],
    ]
    assert "registry-1.docker.io" in (diagnostics / "kind-create.log").read_text()


@pytest.mark.requirement("CLU-007")
def test_control_plane_not_ready_in_time_is_a_timeout_and_is_deleted(env: Env) -> None:
    env.kind.on("get", "clusters", once=True)
    env.kind.on("create", "cluster", stderr=WAIT_RAN_OUT.format(name="t1"))
    env.kind.on("get", "clusters", stdout="t1\n").on("export", "logs").on("delete", "cluster")
    with pytest.raises(KindTimeoutError, match="not Ready within 180s"):
        env.provider().create()
    assert env.kind_calls()[-1][:2] == ["delete", "cluster"]


@pytest.mark.requirement("CLU-007")
def test_a_name_clash_deletes_nothing(env: Env) -> None:
    env.kind.on("get", "clusters")
    env.kind.on("create", "cluster", stderr=NAME_TAKEN.format(name="t1"), exit=1)
    with pytest.raises(ClusterNameConflictError):
        env.provider().create()
    assert env.kind_calls() == [["get", "clusters"], _create_argv(env)]


@pytest.mark.requirement("CLU-007")
def test_a_dead_daemon_stops_before_kind_runs(env: Env) -> None:
    env.docker.rules.clear()
    env.docker.on("info", stderr=DAEMON_DOWN.split("Command Output: ")[1], exit=1)
    with pytest.raises(ContainerRuntimeUnavailableError) as info:
        env.provider().create()
    assert "Cannot connect to the Docker daemon" in str(info.value)
    assert env.kind.calls() == []


@pytest.mark.requirement("CLU-010")
def test_podman_is_checked_and_passed_through_to_kind(env: Env) -> None:
    podman = FakeCommand(env.kind.bin_dir, "podman").on("info", stdout="5.4.0\n")
    env.kind.on("get", "clusters", stdout="t1\n")
    env.kind.on("get", "kubeconfig", stdout=kubeconfig_for(env.server))
    env.provider(KIND_EXPERIMENTAL_PROVIDER="podman").create()
    assert podman.calls() == [["info", "--format", "{{.Version.Version}}"]]
    assert env.docker.calls() == []
    assert {entry["provider"] for entry in env.kind.entries()} == {"podman"}


def test_delete_removes_the_nodes_and_the_local_files(env: Env) -> None:
    env.kind.on("delete", "cluster")
    env.config.kubeconfig.parent.mkdir(parents=True)
    env.config.kubeconfig.write_text("x")
    env.provider().delete()
    assert env.kind_calls() == [
        ["delete", "cluster", "--name", "t1", "--kubeconfig", str(env.config.kubeconfig)]
    ]
    assert not env.config.cluster_dir.exists()


def test_exists_status_and_image_loading(env: Env, tmp_path: Path) -> None:
    env.kind.on("get", "clusters", stdout="t1\n").on("load").on("export")
    provider = env.provider()
    archive = tmp_path / "images.tar"
    archive.write_bytes(b"tar")
    assert provider.exists()
    assert provider.status() == "kind cluster 't1': exists"
    provider.load_image("app:1")
    provider.load_image_archive(archive)
    assert provider.export_logs(tmp_path / "logs") == tmp_path / "logs"
    assert env.kind_calls()[2:] == [
        ["load", "docker-image", "app:1", "--name", "t1"],
        ["load", "image-archive", str(archive), "--name", "t1"],
        ["export", "logs", str(tmp_path / "logs"), "--name", "t1"],
    ]


def test_get_provider_builds_kind_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_CLUSTER_PROVIDER", "kind")
    monkeypatch.setenv("TEST_CLUSTER_NAME", "from-env")
    provider = get_provider()
    assert isinstance(provider, KindProvider)
    assert provider.config.name == "from-env"
    assert provider.node_image == IMAGE


def _created_config(env: Env) -> Path:
    """The --config of the last ``kind create cluster``."""
    create = [argv for argv in env.kind_calls() if argv[:2] == ["create", "cluster"]][-1]
    return Path(create[create.index("--config") + 1])


@pytest.mark.requirement("CLU-014")
def test_cgroup_v1_hosts_get_the_kubelet_patch_and_v2_hosts_the_config_unchanged(
    env: Env,
) -> None:
    for version, patched in (("1", True), ("2", False)):
        FakeCommand(env.kind.bin_dir, "docker").on(
            "info", "--format", "{{.CgroupVersion}}", stdout=f"{version}\n"
        ).on("info", stdout="20.10.24\n")
        env.kind.on("get", "clusters", stderr="No kind clusters found.\n", once=True)
        env.kind.on("create", "cluster", write_file=kubeconfig_for(env.server), once=True)
        env.provider().create()
        config = _created_config(env)
        if not patched:
            assert config == KIND_CONFIG
            continue
        assert config == env.config.cluster_dir / "kind-config.yaml"
        data = yaml.safe_load(config.read_text())
        assert data["kubeadmConfigPatches"] == [CGROUP_V1_PATCH]
        # everything else is kind-config.yaml's, unchanged
        assert {k: v for k, v in data.items() if k != "kubeadmConfigPatches"} == yaml.safe_load(
            KIND_CONFIG.read_text()
        )
        env.kind.log.unlink()


@pytest.mark.requirement("CLU-014")
def test_the_built_source_loads_the_node_image_and_points_kubeadm_at_its_images(
    env: Env, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    archive = tmp_path / "node.tar"
    archive.write_bytes(b"archive")
    built: list[Path] = []

    def node_archive(binaries: Path) -> tuple[str, Path]:
        built.append(binaries)
        return "ktp.local/kind-node:0123456789ab", archive

    monkeypatch.setattr(kind_node, "node_archive", node_archive)
    monkeypatch.setattr(k8s_binaries, "ensure_binaries", lambda: K8sBinaries(tmp_path / "k8s"))
    docker = (
        FakeCommand(env.kind.bin_dir, "docker")
        .on("info", "--format", "{{.CgroupVersion}}", stdout="2\n")
        .on("info", stdout="20.10.24\n")
        .on("image", "inspect", stderr="Error: No such image\n", exit=1, once=True)
        .on("load")
        .on("image", "inspect", stdout="[{}]\n")
    )
    for _ in range(2):  # the second up finds the image in the runtime and loads nothing
        env.kind.on("get", "clusters", stderr="No kind clusters found.\n", once=True)
        env.kind.on("create", "cluster", write_file=kubeconfig_for(env.server), once=True)
        # The provider's own environment chooses the source (the process says pinned).
        env.provider(TEST_IMAGE_SOURCE="built").create()
    assert built == [tmp_path / "k8s"] * 2
    loads = [argv for argv in docker.calls() if argv[0] == "load"]
    assert loads == [["load", "--input", str(archive)]]
    creates = [argv for argv in env.kind_calls() if argv[:2] == ["create", "cluster"]]
    assert {argv[argv.index("--image") + 1] for argv in creates} == {
        "ktp.local/kind-node:0123456789ab"
    }
    patches = yaml.safe_load(_created_config(env).read_text())["kubeadmConfigPatches"]
    assert patches == kind_node.kubeadm_patches()
    cluster = yaml.safe_load(patches[0])
    assert cluster["imageRepository"] == "ktp.local/kubernetes"
    assert f"{cluster['dns']['imageRepository']}/coredns:{cluster['dns']['imageTag']}" == (
        images.reference("coredns", "built")
    )


@pytest.fixture
def podman_host(env: Env, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Root on a host that needs the wrapper, with a runc on PATH and the host-state calls
    faked (the real ones rewrite iptables and cgroups); yields what those calls did."""
    monkeypatch.delenv("CONTAINERS_CONF")
    monkeypatch.setattr(runc_wrapper, "needs_wrapper", lambda: True)
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    runc = env.kind.bin_dir / "runc"
    runc.write_text("")
    runc.chmod(0o755)
    monkeypatch.setenv("PATH", path_with(env.kind.bin_dir))
    calls: list[str] = []
    monkeypatch.setattr(podman_setup.HostSnapshot, "take", classmethod(lambda cls: cls()))
    monkeypatch.setattr(podman_setup, "restore", lambda before: calls.append("restore"))
    monkeypatch.setattr(podman_setup, "remove_cgroups", lambda name: calls.append(f"rmdir {name}"))
    return calls


@pytest.mark.requirement("CLU-016")
def test_podman_runs_the_cluster_with_the_wrapper_and_its_own_storage_until_down(
    env: Env, tmp_path: Path, podman_host: list[str]
) -> None:
    podman = (
        FakeCommand(env.kind.bin_dir, "podman")
        .on("info", "--format", "{{.Host.CgroupsVersion}}", stdout="v2\n")
        .on("info", stdout="4.3.1\n")
        .on("rm")
        .on("network", "prune")
    )
    env.kind.on("get", "clusters", stderr="No kind clusters found.\n", once=True)
    env.kind.on("create", "cluster", write_file=kubeconfig_for(env.server))
    env.kind.on("delete", "cluster")
    provider = env.provider(KIND_EXPERIMENTAL_PROVIDER="podman")
    paths = PodmanPaths(data=env.config.cluster_dir / "podman", run=tmp_path / "run-podman")
    provider.podman_paths = paths
    provider.create()
    conf = paths.containers_conf.read_text()
    wrapper = paths.run / "runc-wrapper"
    assert f'runtime = "ktp-runc"\n[engine.runtimes]\nktp-runc = ["{wrapper}"]' in conf
    assert f'network_config_dir = "{paths.data / "networks"}"' in conf
    assert f'graphroot = "{paths.data / "storage"}"' in paths.storage_conf.read_text()
    assert f"REAL_RUNC = {str(env.kind.bin_dir / 'runc')!r}" in wrapper.read_text()
    assert stat.S_IMODE(wrapper.stat().st_mode) == 0o700
    assert paths.host_before.is_file()  # the host, recorded before Podman ran anything
    # kind (and through it Podman) ran with the cluster's own configuration
    assert {(e["provider"], e["containers_conf"]) for e in env.kind.entries()} == {
        ("podman", str(paths.containers_conf))
    }
    provider.delete()
    assert [argv for argv in podman.calls() if argv[0] != "info"] == [
        ["rm", "--all", "--force"],
        ["network", "prune", "--force"],
    ]
    assert podman_host == ["restore", f"rmdir {podman_setup.CGROUP_PARENT}"]
    assert not paths.run.exists()
    assert not env.config.cluster_dir.exists()


@pytest.mark.requirement("CLU-016")
def test_podman_without_runc_is_one_line_and_writes_nothing(
    env: Env, tmp_path: Path, podman_host: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    (env.kind.bin_dir / "runc").unlink()
    monkeypatch.setenv("PATH", str(env.kind.bin_dir))  # no runc anywhere on it
    provider = env.provider(KIND_EXPERIMENTAL_PROVIDER="podman")
    paths = PodmanPaths(data=env.config.cluster_dir / "podman", run=tmp_path / "run-podman")
    provider.podman_paths = paths
    with pytest.raises(ContainerRuntimeUnavailableError) as caught:
        provider.create()
    assert str(caught.value) == (
        "runc is not installed, and Podman needs it here behind the runc wrapper: "
        "`apt-get install runc`"
    )
    assert not paths.data.exists()
    assert not paths.run.exists()
