"""KwokProvider logic that needs no control plane: ports, process cleanup, messages.

The provider against a real control plane is tests/integration/cluster. Processes
here are real (a Python child that waits), so cleanup is proven on real pids.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from testing.cluster import get_provider, kwok
from testing.cluster.base import ClusterConfig, ClusterError, ConfigError
from testing.cluster.k8s_binaries import K8sBinaries
from testing.cluster.kwok import (
    API_PORT_ENV,
    COMPONENTS,
    CRASHLOOP_LABEL,
    FAIL_POD_LABEL,
    IMAGE_PULL_BACKOFF_LABEL,
    PROJECT_STAGES_DIR,
    KwokProvider,
    _processes_under,
    _readable,
    _subcommand,
    failing_pod_labels,
    ready_node_count,
)
from testing.polling import wait_for_condition


@pytest.fixture
def provider(tmp_path: Path) -> KwokProvider:
    return KwokProvider(ClusterConfig(name="unit", state_dir=tmp_path / "state"))


def test_registry_selects_kwok_without_containers(tmp_path: Path) -> None:
    chosen = get_provider("kwok", ClusterConfig(name="x", state_dir=tmp_path))
    assert type(chosen) is KwokProvider
    assert chosen.name == "kwok"
    assert chosen.runs_containers is False


def test_everything_lives_under_the_cluster_dir(provider: KwokProvider) -> None:
    cluster_dir = provider.config.cluster_dir
    assert provider.kubeconfig_path() == cluster_dir / "kubeconfig"
    assert provider.kwok_workdir == cluster_dir / "kwok"
    assert provider.kwok_cluster_dir == cluster_dir / "kwok" / "clusters" / "unit"
    assert provider.context == "kwok-unit"


def test_absent_cluster(provider: KwokProvider) -> None:
    assert provider.exists() is False
    assert provider.status() == "kwok cluster 'unit': absent"
    provider.delete()  # a missing cluster is not an error
    assert not provider.config.cluster_dir.exists()


def test_failure_label_is_kwoks_chaos_stage_label() -> None:
    assert failing_pod_labels() == {FAIL_POD_LABEL: "true"}
    assert FAIL_POD_LABEL == "pod-container-running-failed.stage.kwok.x-k8s.io"


def test_pinned_api_port_in_use_is_a_clear_error(
    provider: KwokProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        monkeypatch.setenv(API_PORT_ENV, str(port))
        with pytest.raises(ClusterError, match=f"port {port} \\({API_PORT_ENV}\\) is in use"):
            provider._ports()


def test_pinned_api_port_must_be_a_port(
    provider: KwokProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(API_PORT_ENV, "http")
    with pytest.raises(ConfigError, match="not a TCP port number"):
        provider._ports()


def test_chosen_ports_are_distinct_and_pinned_port_kept(
    provider: KwokProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        free = probe.getsockname()[1]
    monkeypatch.setenv(API_PORT_ENV, str(free))
    ports = provider._ports()
    values = [
        ports.api,
        ports.etcd,
        ports.etcd_peer,
        ports.kube_controller_manager,
        ports.kube_scheduler,
        ports.kwok_controller,
    ]
    assert ports.api == free
    assert len(set(values)) == 6


def _waiting_child(argument: Path, *, session_leader: bool) -> subprocess.Popen[bytes]:
    child = subprocess.Popen(
        [sys.executable, "-c", "import sys; sys.stdin.read()", str(argument)],
        stdin=subprocess.PIPE,
        start_new_session=session_leader,
    )
    # Right after exec the kernel may not show the new command line yet.
    wait_for_condition(
        lambda: str(argument).encode() in Path(f"/proc/{child.pid}/cmdline").read_bytes(),
        timeout=10,
        description="the child's command line",
    )
    return child


def _end(child: subprocess.Popen[bytes]) -> None:
    if child.poll() is None:
        child.kill()
    child.wait(timeout=10)


@pytest.fixture
def stray(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], Path]]:
    """A real process like a kwok component: a session leader (kwokctl starts them so)
    whose command line names a fake kwok cluster dir."""
    cluster_dir = tmp_path / "state" / "unit" / "kwok" / "clusters" / "unit"
    (cluster_dir / "bin").mkdir(parents=True)
    child = _waiting_child(cluster_dir / "bin" / "etcd", session_leader=True)
    try:
        yield child, cluster_dir
    finally:
        _end(child)


def test_a_users_tail_of_a_component_log_is_not_a_component(
    provider: KwokProvider, stray: tuple[subprocess.Popen[bytes], Path]
) -> None:
    """``tail -f .../kube-apiserver.log`` in a user's shell names the cluster dir too."""
    component, cluster_dir = stray
    onlooker = _waiting_child(cluster_dir / "logs" / "kube-apiserver.log", session_leader=False)
    try:
        assert _processes_under(cluster_dir) == [component.pid]
        provider.delete()
        assert component.wait(timeout=10) == -9
        assert onlooker.poll() is None
    finally:
        _end(onlooker)


def test_a_second_signal_does_not_stop_the_cleanup_of_a_failed_up(
    provider: KwokProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SIGTERM arriving while ``up`` removes its half-made cluster is held until the
    cleanup is done; the original failure is what the caller sees."""
    cleaned: list[str] = []

    def fail_start(*args: object) -> None:
        raise RuntimeError("planted: a component failed")

    def delete_while_signalled() -> None:
        os.kill(os.getpid(), signal.SIGTERM)
        cleaned.append("finished")

    monkeypatch.setattr(provider, "_binaries_or_build", lambda: None)
    monkeypatch.setattr(provider, "_start", fail_start)
    monkeypatch.setattr(provider, "delete", delete_while_signalled)
    handler_before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(RuntimeError, match="planted"):
        provider.create(wait_seconds=5)
    assert cleaned == ["finished"]
    assert signal.getsignal(signal.SIGTERM) == handler_before


def test_processes_are_found_by_their_cluster_dir_only(
    stray: tuple[subprocess.Popen[bytes], Path], tmp_path: Path
) -> None:
    child, cluster_dir = stray
    assert _processes_under(cluster_dir) == [child.pid]
    assert _processes_under(tmp_path / "other") == []


def test_delete_kills_leftover_processes_and_removes_files(
    provider: KwokProvider, stray: tuple[subprocess.Popen[bytes], Path]
) -> None:
    child, cluster_dir = stray
    assert cluster_dir == provider.kwok_cluster_dir
    provider.kubeconfig_path().write_text("apiVersion: v1\n")
    provider.delete()
    assert child.wait(timeout=10) == -9
    assert not provider.config.cluster_dir.exists()


def test_dead_component_is_explained_with_its_log_tail(
    provider: KwokProvider, stray: tuple[subprocess.Popen[bytes], Path]
) -> None:
    child, cluster_dir = stray
    (cluster_dir / "pids").mkdir()
    (cluster_dir / "logs").mkdir()
    for component in COMPONENTS:
        (cluster_dir / "pids" / f"{component}.pid").write_text(str(child.pid))
    dead_pid = 2**22 + 12345  # above the default pid_max: never a live process
    (cluster_dir / "pids" / "etcd.pid").write_text(str(dead_pid))
    (cluster_dir / "logs" / "etcd.log").write_text(
        "starting\nlisten tcp 127.0.0.1:2379: bind: address already in use\n"
    )
    message = provider._explain_dead_components()
    assert message.startswith("etcd exited at start (a port it needs is in use); last lines of ")
    assert "bind: address already in use" in message
    assert "kube-apiserver" not in message


def test_load_image_is_a_documented_no_op(provider: KwokProvider, tmp_path: Path) -> None:
    provider.load_image("example.test/app:1")
    archive = tmp_path / "images.tar"
    archive.write_bytes(b"")
    provider.load_image_archive(archive)
    with pytest.raises(ClusterError, match="does not exist"):
        provider.load_image_archive(tmp_path / "missing.tar")
    assert not provider.config.cluster_dir.exists()


def test_export_logs_of_absent_cluster_is_an_error(provider: KwokProvider, tmp_path: Path) -> None:
    with pytest.raises(ClusterError, match="does not exist: no logs to export"):
        provider.export_logs(tmp_path / "out")


def test_ready_node_count_reads_conditions() -> None:
    def node(ready: str | None) -> dict[str, object]:
        conditions = [] if ready is None else [{"type": "Ready", "status": ready}]
        return {
            "status": {"conditions": [{"type": "MemoryPressure", "status": "True"}, *conditions]}
        }

    node_list = {"items": [node("True"), node("False"), node(None), {"metadata": {}}, node("True")]}
    assert ready_node_count(node_list) == 2
    assert ready_node_count({"items": None}) == 0


def test_kwokctl_json_log_lines_become_readable() -> None:
    line = json.dumps(
        {
            "time": "t",
            "level": "ERROR",
            "source": {"file": "x.go"},
            "msg": "Execute exit",
            "err": "unknown flag: --nope",
        }
    )
    assert _readable(line) == "ERROR: Execute exit: unknown flag: --nope"
    assert _readable("plain text") == "plain text"
    assert _readable("[1, 2]") == "[1, 2]"


def test_subcommand_skips_global_flags() -> None:
    args = ("--config", "/x/stages.yaml", "create", "cluster", "--runtime", "binary")
    assert _subcommand(args) == "create cluster"
    assert _subcommand(("scale", "node", "--replicas", "3")) == "scale node"


def test_create_clears_leftovers_of_a_dead_run_first(
    tmp_path: Path, stray: tuple[subprocess.Popen[bytes], Path]
) -> None:
    """A run killed before kwokctl wrote its config left a process and files behind."""
    child, cluster_dir = stray
    empty = tmp_path / "binaries"
    (empty / "kwok-stages").mkdir(parents=True)
    provider = KwokProvider(
        ClusterConfig(name="unit", state_dir=tmp_path / "state"),
        binaries=K8sBinaries(empty, origin="test"),
    )
    assert provider.kwok_cluster_dir == cluster_dir
    assert provider.exists() is False
    with pytest.raises(ClusterError, match="no kwok stage files"):
        provider.create(wait_seconds=5)
    assert child.wait(timeout=10) == -9
    assert not provider.config.cluster_dir.exists()


def test_config_file_holds_kwoks_stages_then_the_projects_then_component_patches(
    provider: KwokProvider,
) -> None:
    binaries = provider.config.cluster_dir.parent / "binaries"
    (binaries / "kwok-stages").mkdir(parents=True)
    (binaries / "kwok-stages" / "pod-ready.yaml").write_text(
        "kind: Stage\nmetadata:\n  name: pod-ready\n"
    )
    provider.config.cluster_dir.mkdir(parents=True)
    patches = [{"name": "etcd", "extraArgs": [{"key": "k", "value": "v", "override": False}]}]
    provider._write_config(K8sBinaries(binaries, origin="test"), patches)
    docs = [doc for doc in yaml.safe_load_all(provider.config_file.read_text()) if doc]
    names = [doc["metadata"]["name"] for doc in docs if doc["kind"] == "Stage"]
    assert names == ["pod-ready", "ktp-pod-crashloop-backoff", "ktp-pod-image-pull-backoff"]
    assert docs[-1] == {
        "apiVersion": "config.kwok.x-k8s.io/v1alpha1",
        "kind": "KwokctlConfiguration",
        "componentsPatches": patches,
    }
    labels = " ".join(path.read_text() for path in PROJECT_STAGES_DIR.glob("*.yaml"))
    assert f'.metadata.labels["{CRASHLOOP_LABEL}"]' in labels
    assert f'.metadata.labels["{IMAGE_PULL_BACKOFF_LABEL}"]' in labels


def test_etcd_takes_only_clients_with_a_certificate_and_every_component_binds_loopback(
    provider: KwokProvider,
) -> None:
    """The arguments kwokctl gets: etcd's client and peer URLs are https with client
    certificates required, and the API server's ``--etcd-servers`` *replaces* kwokctl's
    http URL (a list flag would otherwise keep both). The real refusal is KWOK-009."""
    ports = kwok._Ports(
        api=6443,
        etcd=2379,
        etcd_peer=2380,
        kube_controller_manager=1,
        kube_scheduler=2,
        kwok_controller=3,
    )
    pki = provider.etcd_pki
    patches = {p["name"]: p["extraArgs"] for p in kwok._component_patches(ports, pki)}
    etcd = {a["key"]: (a["value"], a["override"]) for a in patches["etcd"]}
    assert etcd["listen-client-urls"] == ("https://127.0.0.1:2379", True)
    assert etcd["listen-peer-urls"] == ("https://127.0.0.1:2380", True)
    assert etcd["client-cert-auth"] == ("true", False)
    assert etcd["peer-client-cert-auth"] == ("true", False)
    assert etcd["trusted-ca-file"] == (str(pki.crt("ca")), False)
    apiserver = {a["key"]: (a["value"], a["override"]) for a in patches["kube-apiserver"]}
    assert apiserver["etcd-servers"] == ("https://127.0.0.1:2379", True)
    assert apiserver["etcd-certfile"] == (str(pki.crt("apiserver-etcd-client")), False)
    binds = {
        name: next(a["value"] for a in args if a["key"] in ("bind-address", "server-address"))
        for name, args in patches.items()
        if name != "etcd"
    }
    assert binds == {
        "kube-apiserver": "127.0.0.1",
        "kube-controller-manager": "127.0.0.1",
        "kube-scheduler": "127.0.0.1",
        "kwok-controller": "127.0.0.1:3",
    }
