"""The kwok provider against its REAL control plane: versions, chaos, lifecycle, errors.

Every process here is real: etcd, kube-apiserver, kube-controller-manager,
kube-scheduler and the kwok controller built from source. Only the planted broken
component (a script standing in for kube-scheduler) is fake, on purpose: it is how
"a component that exits at start" is produced on demand.
"""

from __future__ import annotations

import base64
import http.client
import json
import os
import re
import signal
import socket
import socketserver
import ssl
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from testing import pins
from testing.cluster.base import ClusterConfig, ClusterError
from testing.cluster.k8s_binaries import BINARY_NAMES, STAGES_DIR, K8sBinaries
from testing.cluster.kwok import (
    FAIL_POD_EXIT_CODE_ANNOTATION,
    FAIL_POD_REASON_ANNOTATION,
    KwokProvider,
    _processes_under,
    failing_pod_labels,
)
from testing.cluster.pki import Identity, Pki
from testing.cluster.readiness import api_get
from testing.polling import TerminalFailure, wait_for_condition
from tests.support import cluster_cli

CLI_TIMEOUT_S = 300


def _version_output(binary: Path, *args: str) -> str:
    result = subprocess.run(
        [str(binary), *args], capture_output=True, text=True, timeout=60, check=True
    )
    return result.stdout + result.stderr


@pytest.mark.requirement("KWOK-001")
def test_binaries_report_the_pinned_versions(kwok_binaries: K8sBinaries, kwok_api: Any) -> None:
    kubernetes = pins.pin("kubernetes")
    assert f"Kubernetes {kubernetes}" in _version_output(
        kwok_binaries.path("kube-apiserver"), "--version"
    )
    assert f"Client Version: {kubernetes}" in _version_output(
        kwok_binaries.path("kubectl"), "version", "--client"
    )
    assert f"etcd Version: {pins.pin('etcd').lstrip('v')}" in _version_output(
        kwok_binaries.path("etcd"), "--version"
    )
    assert pins.pin("kwok").lstrip("v") in _version_output(kwok_binaries.path("kwok"), "--version")
    status, body = api_get(kwok_api, "/version")
    assert status == 200
    assert json.loads(body)["gitVersion"] == kubernetes


def _create_pod(
    api: Any, namespace: str, name: str, labels: dict[str, str], **annotations: str
) -> None:
    client.CoreV1Api(api).create_namespaced_pod(
        namespace,
        client.V1Pod(
            metadata=client.V1ObjectMeta(name=name, labels=labels, annotations=annotations or None),
            spec=client.V1PodSpec(
                containers=[client.V1Container(name="app", image="registry.invalid/app:1")],
                restart_policy="Never",
            ),
        ),
    )


def _pod_phase(api: Any, namespace: str, name: str, wanted: str) -> Any:
    core = client.CoreV1Api(api)

    def reached() -> Any:
        pod = core.read_namespaced_pod(name, namespace)
        if pod.status.phase == wanted:
            return pod
        if pod.status.phase in {"Failed", "Succeeded"}:
            raise TerminalFailure(f"pod {name} is {pod.status.phase}, not {wanted}")
        return None

    return wait_for_condition(reached, timeout=60, description=f"pod {name} {wanted}")


@pytest.mark.requirement("KWOK-003")
def test_pod_with_the_failure_label_fails(kwok_api: Any, kwok_namespace: str) -> None:
    _create_pod(kwok_api, kwok_namespace, "doomed", failing_pod_labels())
    pod = _pod_phase(kwok_api, kwok_namespace, "doomed", "Failed")
    terminated = pod.status.container_statuses[0].state.terminated
    assert (terminated.reason, terminated.exit_code) == ("containerFailed", 1)


@pytest.mark.requirement("KWOK-003")
def test_failure_reason_and_exit_code_come_from_annotations(
    kwok_api: Any, kwok_namespace: str
) -> None:
    annotations = {FAIL_POD_REASON_ANNOTATION: "OOMKilled", FAIL_POD_EXIT_CODE_ANNOTATION: "137"}
    _create_pod(kwok_api, kwok_namespace, "oom", failing_pod_labels(), **annotations)
    pod = _pod_phase(kwok_api, kwok_namespace, "oom", "Failed")
    terminated = pod.status.container_statuses[0].state.terminated
    assert (terminated.reason, terminated.exit_code) == ("OOMKilled", 137)


@pytest.mark.requirement("KWOK-003")
def test_pod_without_the_label_keeps_running(kwok_api: Any, kwok_namespace: str) -> None:
    """The control case: the same pod, unlabelled, becomes Ready and stays Running."""
    _create_pod(kwok_api, kwok_namespace, "healthy", {"app": "healthy"})
    pod = _pod_phase(kwok_api, kwok_namespace, "healthy", "Running")
    assert pod.status.container_statuses[0].ready is True
    assert pod.status.container_statuses[0].state.terminated is None


class _Echo(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        data = self.request.recv(1024)
        self.request.sendall(b"echo:" + data)


@pytest.fixture
def echo_server() -> Iterator[int]:
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _Echo)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield int(server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def kubectl(kwok_binaries: K8sBinaries, kwok_provider: KwokProvider) -> list[str]:
    return [
        str(kwok_binaries.path("kubectl")),
        "--kubeconfig",
        str(kwok_provider.kubeconfig_path()),
    ]


def _kwok_object(api: Any, namespace: str, plural: str, kind: str, spec: dict[str, Any]) -> None:
    client.CustomObjectsApi(api).create_namespaced_custom_object(
        "kwok.x-k8s.io",
        "v1alpha1",
        namespace,
        plural,
        {
            "apiVersion": "kwok.x-k8s.io/v1alpha1",
            "kind": kind,
            "metadata": {"name": "web"},
            "spec": spec,
        },
    )


@pytest.mark.requirement("KWOK-007")
def test_logs_of_a_simulated_pod(kwok_api: Any, kwok_namespace: str, tmp_path: Path) -> None:
    """A ``Logs`` object gives pod ``web`` a log file, served through the API server."""
    _create_pod(kwok_api, kwok_namespace, "web", {"app": "web"})
    _pod_phase(kwok_api, kwok_namespace, "web", "Running")
    log_file = tmp_path / "web.log"
    log_file.write_text("2026-01-01T00:00:00.000000000Z stdout F served one request\n")
    spec = {"logs": [{"containers": ["app"], "logsFile": str(log_file)}]}
    _kwok_object(kwok_api, kwok_namespace, "logs", "Logs", spec)
    core = client.CoreV1Api(kwok_api)

    def logs() -> str:
        text: str = core.read_namespaced_pod_log("web", kwok_namespace)
        return text

    assert wait_for_condition(logs, timeout=30, description="logs of pod web") == (
        "served one request\n"
    )


@pytest.mark.requirement("KWOK-007")
def test_port_forward_to_a_simulated_pod_reaches_a_local_server(
    kwok_api: Any, kwok_namespace: str, kubectl: list[str], echo_server: int, tmp_path: Path
) -> None:
    """A ``PortForward`` maps pod ``web``'s port 80 to a real local TCP server."""
    _create_pod(kwok_api, kwok_namespace, "web", {"app": "web"})
    _pod_phase(kwok_api, kwok_namespace, "web", "Running")
    target = {"port": echo_server, "address": "127.0.0.1"}
    _kwok_object(
        kwok_api,
        kwok_namespace,
        "portforwards",
        "PortForward",
        {"forwards": [{"ports": [80], "target": target}]},
    )
    argv = [
        *kubectl, "--namespace", kwok_namespace, "port-forward", "--address", "127.0.0.1",
        "pod/web", ":80",
    ]  # fmt: skip
    env = {**os.environ, "KUBECACHEDIR": str(tmp_path / "kube-cache")}
    forwards: list[tuple[subprocess.Popen[str], int]] = []

    def forwarding() -> int:
        """The local port of a running ``kubectl port-forward``, started again if the last
        one ended: kubectl gives up when the kwok controller has not yet seen the
        PortForward object, which it learns about through its own watch."""
        if forwards and forwards[-1][0].poll() is None:
            return forwards[-1][1]
        forward = subprocess.Popen(
            argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env
        )
        first = forward.stdout.readline() if forward.stdout is not None else ""
        match = re.search(r"127\.0\.0\.1:(\d+) -> 80", first)
        if match is None:
            forward.kill()
            forward.wait(timeout=10)
            raise ConnectionError(f"kubectl port-forward did not start: {first.strip()}")
        forwards.append((forward, int(match.group(1))))
        return forwards[-1][1]

    def exchange() -> bytes:
        with socket.create_connection(("127.0.0.1", forwarding()), timeout=5) as sock:
            sock.sendall(b"ping")
            return sock.recv(1024)

    try:
        reply = wait_for_condition(exchange, timeout=60, description="echo via port-forward")
        assert reply == b"echo:ping"
    finally:
        for forward, _ in forwards:
            forward.kill()
            forward.wait(timeout=10)


def _listening_addresses(pids: list[int]) -> list[str]:
    """Local addresses of the TCP sockets these processes listen on (from /proc)."""
    inodes: set[str] = set()
    for pid in pids:
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            target = os.readlink(fd)
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            local, state, inode = fields[1], fields[3], fields[9]
            if state == "0A" and inode in inodes:  # 0A: LISTEN
                found.append(local)
    return found


def _run_cli(env: dict[str, str], command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "testing.cluster", command],
        env=env,
        capture_output=True,
        text=True,
        timeout=CLI_TIMEOUT_S,
        check=False,
    )


@pytest.mark.requirement("KWOK-004")
def test_cli_up_then_down_leaves_nothing(
    cli_env: Callable[[str], dict[str, str]], tmp_path: Path
) -> None:
    env = cli_env("updown")
    provider = KwokProvider(ClusterConfig(name="updown", state_dir=tmp_path / "state"))

    up = _run_cli(env, "up")
    assert up.returncode == 0, up.stderr
    kubeconfig = Path(up.stdout.strip().splitlines()[-1])
    assert kubeconfig == provider.kubeconfig_path()
    assert kubeconfig.is_file()
    running = _processes_under(provider.kwok_cluster_dir)
    assert len(running) == 5
    listening = _listening_addresses(running)
    assert len(listening) >= 6  # etcd client and peer, and one per other component
    loopback = "0100007F:"  # 127.0.0.1 as /proc/net/tcp writes it
    assert [address for address in listening if not address.startswith(loopback)] == []

    down = _run_cli(env, "down")
    assert down.returncode == 0, down.stderr
    assert _processes_under(provider.kwok_cluster_dir) == []
    assert not any(_alive(pid) for pid in running)
    assert not provider.config.cluster_dir.exists()
    assert list((tmp_path / "state").iterdir()) == []
    assert list((tmp_path / "home").rglob("*")) == []  # no ~/.kube, no ~/.kwok


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"


@pytest.mark.requirement("KWOK-005")
def test_ctrl_c_during_up_leaves_nothing_running(
    cli_env: Callable[[str], dict[str, str]], tmp_path: Path
) -> None:
    env = cli_env("interrupted")
    provider = KwokProvider(ClusterConfig(name="interrupted", state_dir=tmp_path / "state"))
    up = cluster_cli.start_up(env)
    try:
        started = wait_for_condition(
            lambda: _processes_under(provider.kwok_cluster_dir),
            timeout=120,
            description="kwok components started by `up`",
        )
        os.killpg(up.pid, signal.SIGINT)
        _, stderr = up.communicate(timeout=120)
    finally:
        if up.poll() is None:
            up.kill()
            up.wait(timeout=10)
    assert up.returncode == 130, stderr
    assert "interrupted" in stderr
    assert "Traceback" not in stderr
    assert _processes_under(provider.kwok_cluster_dir) == []
    assert not any(_alive(pid) for pid in started)
    assert not provider.config.cluster_dir.exists()


@pytest.fixture
def broken_scheduler(kwok_binaries: K8sBinaries, tmp_path: Path) -> Path:
    """The real binaries, except kube-scheduler: a script that reports the real version
    (kwokctl asks before starting it) and then fails at start."""
    directory = tmp_path / "broken-binaries"
    directory.mkdir()
    for name in BINARY_NAMES:
        (directory / name).symlink_to(kwok_binaries.path(name))
    (directory / STAGES_DIR).symlink_to(kwok_binaries.stages_dir)
    (directory / "kube-scheduler").unlink()
    script = directory / "kube-scheduler"
    real = kwok_binaries.path("kube-scheduler")
    script.write_text(
        "#!/bin/sh\n"
        f'case "$1" in --version|version) exec {real} "$@";; esac\n'  # kwokctl asks first
        "echo 'planted: scheduler cannot start' >&2\n"
        "exit 3\n"
    )
    script.chmod(0o755)
    return directory


@pytest.mark.requirement("KWOK-006")
def test_component_exiting_at_start_is_reported_with_its_log(
    broken_scheduler: Path, tmp_path: Path
) -> None:
    provider = KwokProvider(
        ClusterConfig(name="broken", state_dir=tmp_path / "state"),
        binaries=K8sBinaries(broken_scheduler, origin="test"),
    )
    with pytest.raises(ClusterError) as info:
        provider.create(wait_seconds=60)
    message = str(info.value)
    assert "kube-scheduler exited at start" in message
    assert "planted: scheduler cannot start" in message
    assert "kube-apiserver exited" not in message
    # The failed create cleaned up after itself.
    assert _processes_under(provider.kwok_cluster_dir) == []
    assert not provider.config.cluster_dir.exists()


@pytest.mark.requirement("KWOK-006")
def test_api_port_in_use_is_one_error_line(
    cli_env: Callable[[str], dict[str, str]], tmp_path: Path
) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        env = {**cli_env("busy"), "TEST_KWOK_API_PORT": str(port)}
        result = _run_cli(env, "up")
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert lines[-1].startswith(f"error: port {port} (TEST_KWOK_API_PORT) is in use")
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "state" / "busy").exists()


@pytest.mark.requirement("KWOK-008")
def test_keys_kubeconfigs_and_state_directories_are_private(
    kwok_provider: KwokProvider, kwok_api: Any
) -> None:
    """Another local user can read no key, no kubeconfig and no state directory of the
    cluster; and kwok runs no host command for a ClusterExec object (its CRD is off)."""
    root = kwok_provider.config.cluster_dir
    entries = [root, *root.rglob("*")]
    keys = [p for p in entries if p.is_file() and not p.is_symlink() and p.suffix == ".key"]
    configs = [p for p in entries if p.is_file() and "kubeconfig" in p.name]
    assert {p.name for p in keys} >= {"ca.key", "admin.key"}
    assert len(configs) >= 2  # ours, and kwokctl's own
    loose = {
        str(p.relative_to(root)): oct(p.stat().st_mode & 0o777)
        for p in [*keys, *configs]
        if p.stat().st_mode & 0o077
    }
    assert loose == {}
    open_dirs = [
        str(p.relative_to(root))
        for p in entries
        if p.is_dir() and not p.is_symlink() and p.stat().st_mode & 0o077
    ]
    assert open_dirs == []
    with pytest.raises(client.exceptions.ApiException) as caught:
        client.CustomObjectsApi(kwok_api).list_cluster_custom_object(
            "kwok.x-k8s.io", "v1alpha1", "clusterexecs"
        )
    assert caught.value.status == 404


def _etcd_client_url(provider: KwokProvider) -> str:
    """The client URL the running etcd listens on, read from its own command line."""
    pid = int((provider.kwok_cluster_dir / "pids" / "etcd.pid").read_text())
    argv = Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")
    return next(a.split("=", 1)[1] for a in argv if a.startswith("--listen-client-urls="))


def _etcd_range(url: str, key: str, context: ssl.SSLContext | None) -> bytes:
    """etcd's JSON gateway ``/v3/kv/range`` for one key; the stored value's raw bytes."""
    host, port = url.split("//", 1)[1].rsplit(":", 1)
    connection = (
        http.client.HTTPSConnection(host, int(port), context=context, timeout=10)
        if context is not None
        else http.client.HTTPConnection(host, int(port), timeout=10)
    )
    try:
        payload = json.dumps({"key": base64.b64encode(key.encode()).decode()})
        connection.request("POST", "/v3/kv/range", body=payload)
        response = connection.getresponse()
        body = response.read()
    finally:
        connection.close()
    if response.status != 200:
        raise ConnectionRefusedError(f"etcd answered {response.status}: {body[:120]!r}")
    kvs = json.loads(body).get("kvs", [])
    return base64.b64decode(kvs[0]["value"]) if kvs else b""


@pytest.mark.requirement("KWOK-009")
def test_etcd_refuses_a_client_without_the_clusters_certificate(
    kwok_provider: KwokProvider, kwok_api: Any, kwok_namespace: str, tmp_path: Path
) -> None:
    """A Secret's value is in etcd in the clear (no encryption at rest), so whoever
    reaches etcd reads every password deploy stores. The certificate is the protection:
    the API server's own client certificate reads the planted value (the twin), while a
    client with none, or with plain http, gets nothing."""
    marker = f"planted-{kwok_namespace}"
    client.CoreV1Api(kwok_api).create_namespaced_secret(
        kwok_namespace,
        client.V1Secret(metadata=client.V1ObjectMeta(name="db"), string_data={"pw": marker}),
    )
    url = _etcd_client_url(kwok_provider)
    assert url.startswith("https://127.0.0.1:")
    key = f"/registry/secrets/{kwok_namespace}/db"
    pki = kwok_provider.etcd_pki

    with_certificate = ssl.create_default_context(cafile=str(pki.crt("ca")))
    with_certificate.load_cert_chain(
        str(pki.crt("apiserver-etcd-client")), str(pki.key("apiserver-etcd-client"))
    )
    assert marker.encode() in _etcd_range(url, key, with_certificate)

    without_certificate = ssl.create_default_context(cafile=str(pki.crt("ca")))
    with pytest.raises((ssl.SSLError, ConnectionError)):
        _etcd_range(url, key, without_certificate)

    # A well-formed client certificate from another CA is no better.
    other = Pki(tmp_path / "other-ca")
    other.create([Identity("intruder", "kube-apiserver-etcd-client")])
    wrong_ca = ssl.create_default_context(cafile=str(pki.crt("ca")))
    wrong_ca.load_cert_chain(str(other.crt("intruder")), str(other.key("intruder")))
    with pytest.raises((ssl.SSLError, ConnectionError)):
        _etcd_range(url, key, wrong_ca)
    with pytest.raises((ConnectionError, http.client.HTTPException)):
        _etcd_range(url.replace("https://", "http://"), key, None)
