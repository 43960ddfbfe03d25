"""The ``kwok`` provider: a real control plane, simulated nodes, no container runtime.

``kwokctl create cluster --runtime binary`` starts etcd, kube-apiserver,
kube-controller-manager, kube-scheduler and the kwok controller as local processes
from the binaries :mod:`testing.cluster.k8s_binaries` built from source. The kwok
controller plays kubelet for a few simulated nodes: pods are scheduled and go
Running, Deployments become Available and Jobs complete, without any image pulled.

Everything lives in ``ClusterConfig.cluster_dir``: kwokctl's work dir
(``KWOK_WORKDIR``), the component logs and the project-local kubeconfig; nothing
is written to ``~/.kwok`` or ``~/.kube``. kwok's stages are loaded explicitly:
its fast node and pod lifecycle, plus the chaos stages, so a test can make a pod
fail on purpose with the label :data:`FAIL_POD_LABEL` (see :func:`failing_pod_labels`).
The project adds its own stages (``k8s/kwok/stages``) for the states a kubelet
reports and kwok does not: a pod labelled :data:`CRASHLOOP_LABEL` keeps its
containers in CrashLoopBackOff, one labelled :data:`IMAGE_PULL_BACKOFF_LABEL` stays
Pending in ImagePullBackOff.

Every component listens on loopback only, and etcd accepts only clients that present a
certificate from the cluster's own etcd CA (kwokctl's binary runtime runs etcd over
plain http, so the project patches the components through a ``KwokctlConfiguration``):
Secrets are stored in etcd in the clear, and another local user must not read them there.

Logs, port-forward and exec against simulated pods: the kwok controller serves the
kubelet API, and the ``ClusterLogs``/``Logs``, ``ClusterPortForward``/``PortForward``,
``ClusterAttach``/``Attach`` CRDs are enabled, so a test
creates, for example, a ``ClusterPortForward`` whose target is a real local server,
and ``kubectl port-forward pod/x`` (or the client's portforward) then reaches it.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

from testing.cluster.base import ClusterConfig, ClusterError, ClusterProvider, ConfigError
from testing.cluster.k8s_binaries import K8sBinaries, ensure_binaries
from testing.cluster.pki import Identity, Pki
from testing.pins import REPO_ROOT, pin
from testing.polling import Backoff, WaitTimeoutError, wait_for_condition

logger = logging.getLogger(__name__)

#: Pin the API server to this port (default: a free port chosen at ``up``).
API_PORT_ENV = "TEST_KWOK_API_PORT"
#: Label that makes kwok's chaos stage fail a Running pod's containers (exit code 1).
FAIL_POD_LABEL = "pod-container-running-failed.stage.kwok.x-k8s.io"
#: Labels for the project's own stages (``k8s/kwok/stages``), set to "true".
CRASHLOOP_LABEL = "crashloop.stage.ktp.test"
IMAGE_PULL_BACKOFF_LABEL = "image-pull-backoff.stage.ktp.test"
PROJECT_STAGES_DIR = REPO_ROOT / "k8s" / "kwok" / "stages"
#: Annotations that tune that failure (all optional).
FAIL_POD_REASON_ANNOTATION = f"{FAIL_POD_LABEL}/reason"
FAIL_POD_MESSAGE_ANNOTATION = f"{FAIL_POD_LABEL}/message"
FAIL_POD_EXIT_CODE_ANNOTATION = f"{FAIL_POD_LABEL}/exit-code"
#: CRDs through which a test gives simulated pods logs, port-forwards, exec and attach.
KUBELET_API_CRDS = (
    "ClusterLogs",
    "Logs",
    "ClusterPortForward",
    "PortForward",
    "ClusterAttach",
    "Attach",
)
COMPONENTS = (
    "etcd",
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
    "kwok-controller",
)
KWOKCTL_TIMEOUT_S = 180.0
#: How long a re-``up`` of an existing cluster waits before calling it broken.
REUSE_READY_TIMEOUT_S = 30.0
_PROCESS_EXIT_TIMEOUT_S = 10.0
_KILL_ROUNDS = 5


def failing_pod_labels() -> dict[str, str]:
    """Labels that make kwok fail a pod's containers once it runs (reason ``containerFailed``)."""
    return {FAIL_POD_LABEL: "true"}


@dataclass(frozen=True)
class _Ports:
    """Loopback ports of the components, chosen here so they can be bound to 127.0.0.1."""

    api: int
    etcd: int
    etcd_peer: int
    kube_controller_manager: int
    kube_scheduler: int
    kwok_controller: int


def _free_ports(count: int) -> list[int]:
    """``count`` distinct free loopback ports (all held open until all are chosen)."""
    with contextlib.ExitStack() as stack:
        ports = []
        for _ in range(count):
            sock = stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
            sock.bind(("127.0.0.1", 0))
            ports.append(int(sock.getsockname()[1]))
        return ports


def _port_in_use(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


def _tail_file(path: Path, lines: int = 15) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.strip().splitlines()[-lines:]) or "(empty log)"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie is dead for our purposes.
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"


def _session_leader_of(entry: Path) -> bool:
    """Whether the process is its session's leader (field 6 of /proc/<pid>/stat)."""
    try:
        fields = (entry / "stat").read_text().rsplit(")", 1)[-1].split()
    except OSError:
        return False
    return len(fields) > 3 and fields[3] == entry.name


def _processes_under(directory: Path) -> list[int]:
    """Pids of our components: session leaders of this user whose command line names
    ``directory``.

    kwokctl starts every component as a session leader with flags under its cluster
    directory, so this finds them even when a pid file was never written (Ctrl-C in
    the middle of ``kwokctl create``). A user's ``tail -f .../kube-apiserver.log`` names
    the directory too, but runs in its shell's session, and another user's processes
    are not ours to signal.
    """
    needle = (str(directory) + os.sep).encode()
    uid = os.getuid()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if entry.stat().st_uid != uid:
                continue
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if needle in cmdline and _session_leader_of(entry) and _pid_alive(int(entry.name)):
            found.append(int(entry.name))
    return found


#: Suffixes of private-key files (kubeconfigs are found by name).
_PRIVATE_SUFFIXES = (".key", ".pem")


def _arg(key: str, value: str, *, replaces_kwokctls: bool = False) -> dict[str, Any]:
    """One extra argument; ``replaces_kwokctls`` overrides the flag kwokctl already sets
    (needed for list flags such as ``--etcd-servers``, which would otherwise append)."""
    return {"key": key, "value": value, "override": replaces_kwokctls}


def _component_patches(ports: _Ports, etcd_pki: Pki) -> list[dict[str, Any]]:
    """Every component on loopback; etcd and its peer port accept only clients with a
    certificate from the cluster's own etcd CA, so no other local user can read the
    Secrets deploy stores, or write objects, straight from etcd."""
    etcd_url = f"https://127.0.0.1:{ports.etcd}"
    peer_url = f"https://127.0.0.1:{ports.etcd_peer}"
    ca, p = str(etcd_pki.crt("ca")), etcd_pki
    etcd = [
        _arg("listen-client-urls", etcd_url, replaces_kwokctls=True),
        _arg("advertise-client-urls", etcd_url, replaces_kwokctls=True),
        _arg("listen-peer-urls", peer_url, replaces_kwokctls=True),
        _arg("initial-advertise-peer-urls", peer_url, replaces_kwokctls=True),
        _arg("initial-cluster", f"node0={peer_url}", replaces_kwokctls=True),
        _arg("client-cert-auth", "true"),
        _arg("trusted-ca-file", ca),
        _arg("cert-file", str(p.crt("etcd"))),
        _arg("key-file", str(p.key("etcd"))),
        _arg("peer-client-cert-auth", "true"),
        _arg("peer-trusted-ca-file", ca),
        _arg("peer-cert-file", str(p.crt("etcd"))),
        _arg("peer-key-file", str(p.key("etcd"))),
    ]
    apiserver = [
        _arg("etcd-servers", etcd_url, replaces_kwokctls=True),
        _arg("etcd-cafile", ca),
        _arg("etcd-certfile", str(p.crt("apiserver-etcd-client"))),
        _arg("etcd-keyfile", str(p.key("apiserver-etcd-client"))),
        _arg("bind-address", "127.0.0.1"),
    ]
    return [
        {"name": "etcd", "extraArgs": etcd},
        {"name": "kube-apiserver", "extraArgs": apiserver},
        {"name": "kube-controller-manager", "extraArgs": [_arg("bind-address", "127.0.0.1")]},
        {"name": "kube-scheduler", "extraArgs": [_arg("bind-address", "127.0.0.1")]},
        {
            "name": "kwok-controller",
            "extraArgs": [_arg("server-address", f"127.0.0.1:{ports.kwok_controller}")],
        },
    ]


def _lock_down(directory: Path) -> None:
    """Every directory of the cluster 0700, every key and kubeconfig 0600.

    kwokctl writes ``pki/ca.key`` and ``admin.key`` 0644 and its kubeconfig 0640; the
    cluster directory is already private, and this makes each file private as well.
    """
    for path in [directory, *directory.rglob("*")]:
        if path.is_symlink():
            continue
        if path.is_dir():
            path.chmod(0o700)
        elif path.suffix in _PRIVATE_SUFFIXES or "kubeconfig" in path.name:
            path.chmod(0o600)


@contextlib.contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """Turn SIGTERM into KeyboardInterrupt while ``up`` runs, so cleanup still happens."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, frame: FrameType | None) -> None:
        del signum, frame
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextlib.contextmanager
def _signals_held() -> Iterator[None]:
    """Ignore SIGINT and SIGTERM while a half-made cluster is removed: a second Ctrl-C
    must not stop the cleanup halfway (every step of it is bounded by a timeout)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {s: signal.signal(s, signal.SIG_IGN) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


class KwokProvider(ClusterProvider):
    """A kwok cluster of local processes, one per :class:`ClusterConfig` name."""

    name = "kwok"
    runs_containers = False
    #: Simulated nodes created at ``up``.
    node_count = 3

    def __init__(self, config: ClusterConfig, binaries: K8sBinaries | None = None) -> None:
        super().__init__(config)
        self._binaries = binaries

    # --- paths ---------------------------------------------------------------------

    @property
    def kwok_workdir(self) -> Path:
        """``KWOK_WORKDIR`` for kwokctl: keeps its state out of ``~/.kwok``."""
        return self.config.cluster_dir / "kwok"

    @property
    def kwok_cluster_dir(self) -> Path:
        return self.kwok_workdir / "clusters" / self.config.name

    @property
    def logs_dir(self) -> Path:
        return self.kwok_cluster_dir / "logs"

    @property
    def config_file(self) -> Path:
        return self.config.cluster_dir / "kwokctl-config.yaml"

    @property
    def etcd_pki(self) -> Pki:
        """etcd's own CA, its serving certificate and the API server's client certificate."""
        return Pki(self.config.cluster_dir / "etcd-pki")

    def kubeconfig_path(self) -> Path:
        return self.config.kubeconfig

    @property
    def context(self) -> str:
        """The kubeconfig context kwokctl names after the cluster."""
        return f"kwok-{self.config.name}"

    # --- state ---------------------------------------------------------------------

    def exists(self) -> bool:
        return (self.kwok_cluster_dir / "kwok.yaml").is_file()

    def _component_pids(self) -> dict[str, int | None]:
        pids: dict[str, int | None] = {}
        for component in COMPONENTS:
            try:
                pids[component] = int(
                    (self.kwok_cluster_dir / "pids" / f"{component}.pid").read_text()
                )
            except (OSError, ValueError):
                pids[component] = None
        return pids

    def _dead_components(self) -> list[str]:
        return [
            component
            for component, pid in self._component_pids().items()
            if pid is None or not _pid_alive(pid)
        ]

    def status(self) -> str:
        if not self.exists():
            return f"kwok cluster {self.config.name!r}: absent"
        dead = self._dead_components()
        if dead:
            return (
                f"kwok cluster {self.config.name!r}: broken ({', '.join(dead)} not running); "
                "run down, then up"
            )
        return (
            f"kwok cluster {self.config.name!r}: running ({len(COMPONENTS)} components), "
            f"kubeconfig {self.kubeconfig_path()}"
        )

    # --- lifecycle -----------------------------------------------------------------

    def _env(self) -> dict[str, str]:
        env = {
            **os.environ,
            "KWOK_WORKDIR": str(self.kwok_workdir),
            # kwokctl's kubectl calls would otherwise cache discovery in ~/.kube/cache.
            "KUBECACHEDIR": str(self.config.cluster_dir / "kube-cache"),
        }
        env.pop("KUBECONFIG", None)
        return env

    def _kwokctl(
        self, binaries: K8sBinaries, *args: str, timeout: float = KWOKCTL_TIMEOUT_S
    ) -> None:
        argv = [str(binaries.path("kwokctl")), "--name", self.config.name, *args]
        env = {
            **self._env(),
            "KWOK_KUBECTL_BINARY": str(binaries.path("kubectl")),
            # Which flags kwokctl passes to the components depends on this version.
            "KWOK_KUBE_VERSION": pin("kubernetes"),
        }
        try:
            result = subprocess.run(
                argv, env=env, capture_output=True, text=True, timeout=timeout, check=False
            )
        except subprocess.TimeoutExpired:
            raise ClusterError(
                f"kwokctl {_subcommand(args)} took longer than {timeout:.0f}s"
            ) from None
        if result.returncode != 0:
            output = "\n".join(
                _readable(line)
                for line in (result.stdout + result.stderr).strip().splitlines()[-15:]
            )
            raise ClusterError(
                f"kwokctl {_subcommand(args)} failed (exit {result.returncode}):\n{output}"
            )

    def _binaries_or_build(self) -> K8sBinaries:
        if self._binaries is None:
            self._binaries = ensure_binaries()
        return self._binaries

    def _write_config(self, binaries: K8sBinaries, patches: list[dict[str, Any]]) -> None:
        """kwokctl's ``--config``: kwok's stages, the project's stages, and a
        ``KwokctlConfiguration`` whose component patches bind every component to
        loopback and put etcd behind mutual TLS."""
        kwok_own = sorted(binaries.stages_dir.glob("*.yaml"))
        if not kwok_own:
            raise ClusterError(f"no kwok stage files in {binaries.stages_dir}")
        documents = [
            path.read_text(encoding="utf-8").strip()
            for path in [*kwok_own, *sorted(PROJECT_STAGES_DIR.glob("*.yaml"))]
        ]
        kwokctl_configuration = {
            "apiVersion": "config.kwok.x-k8s.io/v1alpha1",
            "kind": "KwokctlConfiguration",
            "componentsPatches": patches,
        }
        documents.append(json.dumps(kwokctl_configuration))  # JSON is YAML
        self.config_file.write_text("".join(f"---\n{doc}\n" for doc in documents), encoding="utf-8")

    def _ports(self) -> _Ports:
        fixed = os.environ.get(API_PORT_ENV)
        api_port = None
        if fixed:
            if not fixed.isdigit() or not 0 < int(fixed) < 65536:
                raise ConfigError(f"{API_PORT_ENV}={fixed!r} is not a TCP port number")
            api_port = int(fixed)
            if _port_in_use(api_port):
                raise ClusterError(
                    f"port {api_port} ({API_PORT_ENV}) is in use by another process: free it "
                    f"(ss -ltnp 'sport = :{api_port}') or choose another port"
                )
        free = _free_ports(6 if api_port is None else 5)
        if api_port is None:
            api_port = free.pop()
        etcd, etcd_peer, controller_manager, scheduler, kwok_controller = free
        return _Ports(api_port, etcd, etcd_peer, controller_manager, scheduler, kwok_controller)

    def create(self, *, wait_seconds: float = 300) -> Path:
        """Start the cluster (or reuse a ready one) and return its kubeconfig.

        ``wait_seconds`` bounds the start and the readiness wait, not a first-time
        build of the binaries (which :mod:`testing.cluster.k8s_binaries` bounds).
        """
        if self.exists():
            reused = self._reuse()
            if reused is not None:
                return reused
        elif self.config.cluster_dir.exists():
            self.delete()  # leftovers of a run that died before kwokctl wrote its config
        with _sigterm_as_interrupt():
            binaries = self._binaries_or_build()
            started = time.monotonic()
            try:
                # Private before kwokctl writes keys into it: other local users never
                # get a window to read the CA key or the admin credentials.
                self.config.cluster_dir.mkdir(parents=True, exist_ok=True)
                self.config.cluster_dir.chmod(0o700)
                self._start(binaries, wait_seconds)
                remaining = max(wait_seconds - (time.monotonic() - started), 1.0)
                self._wait_ready_or_explain(remaining)
                self._kwokctl(binaries, "scale", "node", "--replicas", str(self.node_count))
                remaining = max(wait_seconds - (time.monotonic() - started), 1.0)
                self._wait_for_nodes(remaining)
                _lock_down(self.config.cluster_dir)
            except BaseException:
                # Ctrl-C, SIGTERM or a failure: leave no process and no file behind.
                with _signals_held():
                    self.delete()
                raise
        logger.info("kwok cluster %r ready in %.1fs", self.config.name, time.monotonic() - started)
        return self.kubeconfig_path()

    def _reuse(self) -> Path | None:
        """Return the kubeconfig of a running, ready cluster; clear away a broken one."""
        from testing.cluster.readiness import ApiNotReadyError, wait_for_api_ready  # noqa: PLC0415 - `down` needs no client

        dead = self._dead_components()
        if not dead and self.kubeconfig_path().is_file():
            try:
                wait_for_api_ready(
                    self.kubeconfig_path(), timeout=REUSE_READY_TIMEOUT_S, context=self.context
                )
            except ApiNotReadyError as exc:
                logger.warning("existing kwok cluster is not ready (%s); recreating it", exc)
            else:
                return self.kubeconfig_path()
        else:
            logger.warning(
                "kwok cluster %r exists but %s not running; recreating it",
                self.config.name,
                ", ".join(dead) or "its kubeconfig is",
            )
        self.delete()
        return None

    def _start(self, binaries: K8sBinaries, wait_seconds: float) -> None:
        self.config.cluster_dir.mkdir(parents=True, exist_ok=True)
        ports = self._ports()
        self._write_config(binaries, _component_patches(ports, self.etcd_pki))
        self.etcd_pki.create(
            [
                Identity("etcd", "etcd", dns=("localhost",), ips=("127.0.0.1",), server=True),
                Identity("apiserver-etcd-client", "kube-apiserver-etcd-client"),
            ]
        )
        args = [
            "--config",
            str(self.config_file),
            "create",
            "cluster",
            "--runtime",
            "binary",
            "--kubeconfig",
            str(self.kubeconfig_path()),
            "--kube-apiserver-binary",
            str(binaries.path("kube-apiserver")),
            "--kube-controller-manager-binary",
            str(binaries.path("kube-controller-manager")),
            "--kube-scheduler-binary",
            str(binaries.path("kube-scheduler")),
            "--etcd-binary",
            str(binaries.path("etcd")),
            "--kwok-controller-binary",
            str(binaries.path("kwok")),
            "--kube-apiserver-port",
            str(ports.api),
            "--etcd-port",
            str(ports.etcd),
            "--kube-controller-manager-port",
            str(ports.kube_controller_manager),
            "--kube-scheduler-port",
            str(ports.kube_scheduler),
            "--controller-port",
            str(ports.kwok_controller),
            "--enable-crds",
            ",".join(KUBELET_API_CRDS),
            "--timeout",
            f"{int(wait_seconds)}s",
        ]
        try:
            self._kwokctl(binaries, *args, timeout=wait_seconds + 30)
        except ClusterError as exc:
            explained = self._explain_dead_components()
            raise ClusterError(f"{exc}\n{explained}" if explained else str(exc)) from None
        explained = self._explain_dead_components()
        if explained:
            raise ClusterError(explained)

    def _explain_dead_components(self) -> str:
        """One line per component that exited at start, with its log tail."""
        if not self.kwok_cluster_dir.is_dir():
            return ""
        messages = []
        for component in self._dead_components():
            log = self.logs_dir / f"{component}.log"
            tail = _tail_file(log)
            hint = " (a port it needs is in use)" if "address already in use" in tail else ""
            messages.append(f"{component} exited at start{hint}; last lines of {log}:\n{tail}")
        return "\n".join(messages)

    def _wait_ready_or_explain(self, timeout: float) -> None:
        from testing.cluster.readiness import ApiNotReadyError, wait_for_api_ready  # noqa: PLC0415 - `down` needs no client

        try:
            wait_for_api_ready(self.kubeconfig_path(), timeout=timeout, context=self.context)
        except ApiNotReadyError as exc:
            explained = self._explain_dead_components()
            raise ApiNotReadyError(f"{exc}\n{explained}" if explained else str(exc)) from None

    def _wait_for_nodes(self, timeout: float) -> None:
        from testing.cluster.readiness import api_get, load_api_client  # noqa: PLC0415 - `down` needs no client

        api_client = load_api_client(self.kubeconfig_path(), self.context)

        def ready_nodes() -> bool:
            status, body = api_get(api_client, "/api/v1/nodes")
            if status != 200:
                return False
            return ready_node_count(json.loads(body)) >= self.node_count

        try:
            wait_for_condition(
                ready_nodes,
                timeout=timeout,
                description=f"{self.node_count} Ready kwok nodes",
                backoff=Backoff(initial=0.1, factor=1.5, maximum=1.0),
            )
        except WaitTimeoutError as exc:
            raise ClusterError(
                f"kwok nodes did not become Ready: {exc}; see {self.logs_dir}/kwok-controller.log"
            ) from None
        finally:
            api_client.close()

    def wait_until_ready(self, *, timeout: float = 120) -> None:
        from testing.cluster.readiness import wait_for_api_ready  # noqa: PLC0415 - `down` needs no client

        wait_for_api_ready(self.kubeconfig_path(), timeout=timeout, context=self.context)

    def delete(self) -> None:
        """Stop every component and remove the work dir and kubeconfig; idempotent.

        kwokctl's own ``delete cluster`` only does the same (and edits a kubeconfig),
        so it is not needed, and ``down`` works even when the binaries are gone.
        """
        self._stop_leftovers()
        shutil.rmtree(self.config.cluster_dir, ignore_errors=True)
        if self.config.cluster_dir.exists():
            raise ClusterError(f"could not remove {self.config.cluster_dir}: remove it by hand")

    def _stop_leftovers(self) -> None:
        """SIGKILL every process still running from the cluster dir, and await their exit.

        Not SIGTERM: the data is deleted next, and kube-apiserver's graceful shutdown
        alone takes over 15 seconds. Scanned again after each round, because a process
        caught in the middle of its exec does not show its command line yet.
        """
        for _ in range(_KILL_ROUNDS):
            pids = _processes_under(self.kwok_cluster_dir)
            if not pids:
                return
            for pid in pids:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGKILL)
            try:
                wait_for_condition(
                    lambda: not any(_pid_alive(pid) for pid in pids),  # noqa: B023
                    timeout=_PROCESS_EXIT_TIMEOUT_S,
                    description="kwok components to exit",
                    may_overrun_deadline=True,
                    backoff=Backoff(initial=0.01, factor=2, maximum=0.2),
                )
            except WaitTimeoutError:
                alive = [pid for pid in pids if _pid_alive(pid)]
                raise ClusterError(
                    f"kwok component processes {alive} did not exit after SIGKILL"
                ) from None
        raise ClusterError(f"processes under {self.kwok_cluster_dir} keep appearing")

    # --- images and logs -----------------------------------------------------------

    def load_image(self, image: str) -> None:
        """No-op: kwok runs no containers, so a pod's image is never pulled or needed."""
        logger.info("kwok provider: not loading image %s (kwok pods run no containers)", image)

    def load_image_archive(self, archive: Path) -> None:
        """No-op, as :meth:`load_image`; a missing archive is still an error."""
        if not archive.is_file():
            raise ClusterError(f"image archive {archive} does not exist")
        logger.info("kwok provider: not loading %s (kwok pods run no containers)", archive)

    def export_logs(self, destination: Path | None = None) -> Path:
        """Copy every component log and kwokctl's resolved config into ``destination``."""
        target = destination or self.config.diagnostics_dir
        target.mkdir(parents=True, exist_ok=True)
        if not self.exists():
            raise ClusterError(
                f"kwok cluster {self.config.name!r} does not exist: no logs to export"
            )
        for log in sorted(self.logs_dir.glob("*.log")):
            shutil.copyfile(log, target / log.name)
        shutil.copyfile(self.kwok_cluster_dir / "kwok.yaml", target / "kwok.yaml")
        return target


def _readable(line: str) -> str:
    """kwokctl logs JSON lines; show their message and error, not the source location."""
    try:
        record = json.loads(line)
    except ValueError:
        return line
    if not isinstance(record, dict):
        return line
    parts = [str(record.get(key)) for key in ("level", "msg", "err") if record.get(key)]
    return ": ".join(parts) or line


def _subcommand(args: tuple[str, ...]) -> str:
    """``create cluster`` out of ``--config FILE create cluster --runtime ...``."""
    words = [
        arg
        for i, arg in enumerate(args)
        if not arg.startswith("-") and (i == 0 or not args[i - 1].startswith("-"))
    ]
    return " ".join(words[:2])


def ready_node_count(node_list: dict[str, Any]) -> int:
    """How many nodes of a NodeList (as JSON) have condition Ready=True."""
    count = 0
    for node in node_list.get("items") or []:
        conditions = (node.get("status") or {}).get("conditions") or []
        if any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions):
            count += 1
    return count
