"""The ``local`` provider: real pods on this Linux host, with no Docker and no registry.

The shape of Kubernetes' own ``hack/local-up-cluster.sh``: etcd, kube-apiserver,
kube-controller-manager and kube-scheduler (the binaries the kwok provider builds),
plus a real kubelet and kube-proxy, containerd 2.x and runc, all as host processes
started here, and kube-router's policy controller enforcing NetworkPolicy (iptables and
ipset: this kernel lacks the nftables queue that kube-network-policies relies on); CNI
from Debian's ``containernetworking-plugins`` (a bridge with host-local IPAM, and
portmap); CoreDNS and a local-path provisioner as pods. Images
come from :mod:`testing.images` (built here, or pinned and pulled).

Everything the cluster writes lives under ``ClusterConfig.cluster_dir`` and a short
``/run/ktp-<name>`` (unix sockets must stay under 108 bytes). What it changes on the
host (a bridge, iptables chains, network namespaces, mounts, sysctls) is recorded
before ``up`` (:mod:`testing.cluster.host_state`) and undone by ``down``. One local
cluster per host: kube-proxy's chains are host-wide.

Security: etcd accepts only clients with a certificate from the cluster's CA, every
component authenticates with its own certificate, keys and kubeconfigs are 0600 in
0700 directories, and the API server listens only on the node's bridge address.
Needs root (network namespaces, cgroups, mounts) and cgroups (v1 or v2).
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
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

import yaml

from testing import pins, runc_wrapper, tools
from testing.cluster.base import ClusterConfig, ClusterError, ClusterProvider
from testing.cluster.host_state import HostSnapshot, restore
from testing.cluster.k8s_binaries import K8sBinaries, ensure_binaries
from testing.cluster.pki import Identity, Pki, kubeconfig_text, write_private
from testing.polling import (
    Backoff,
    ConditionFailedError,
    TerminalFailure,
    WaitTimeoutError,
    wait_for_condition,
)

logger = logging.getLogger(__name__)

BRIDGE = "ktp0"
POD_CIDR = "10.244.0.0/24"
NODE_IP = "10.244.0.1"
SERVICE_CIDR = "10.96.0.0/16"
API_SERVICE_IP = "10.96.0.1"
DNS_SERVICE_IP = "10.96.0.10"
NODE_NAME = "ktp-local"
CGROUP_ROOT = "ktp"
ADDONS_DIR = pins.REPO_ROOT / "k8s" / "local"
CNI_DIRS = (Path("/usr/lib/cni"), Path("/opt/cni/bin"))
#: Images the node itself needs before any workload: the sandbox and the add-ons.
NODE_IMAGES = ("pause", "coredns", "local-path-provisioner", "local-path-helper")
COMMAND_TIMEOUT_S = 120.0
#: ``1`` keeps a cluster whose ``up`` failed, for reading its logs (``down`` removes it).
KEEP_ON_FAILURE_ENV = "TEST_LOCAL_KEEP_ON_FAILURE"
STOP_TIMEOUT_S = 15.0
CONTROL_PLANE = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler")
NODE = ("containerd", "kubelet", "kube-proxy", "kube-router")


class LocalHostError(ClusterError):
    """This host cannot run the local provider (not root, no cgroups, a tool missing)."""


@dataclass(frozen=True)
class _Ports:
    api: int
    etcd: int
    etcd_peer: int
    controller_manager: int
    scheduler: int
    kubelet: int
    kubelet_healthz: int
    proxy_metrics: int
    proxy_healthz: int


def _free_ports(count: int) -> list[int]:
    with contextlib.ExitStack() as stack:
        ports = []
        for _ in range(count):
            sock = stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
            sock.bind(("127.0.0.1", 0))
            ports.append(int(sock.getsockname()[1]))
        return ports


def _run(
    argv: list[str],
    *,
    what: str,
    timeout: float = COMMAND_TIMEOUT_S,
    check: bool = True,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    try:
        done = subprocess.run(
            argv, capture_output=True, text=True, timeout=timeout, check=False, env=env
        )
    except subprocess.TimeoutExpired:
        raise ClusterError(f"{what} ran longer than {timeout:.0f}s") from None
    except FileNotFoundError:
        raise LocalHostError(f"{argv[0]} is not installed (needed for {what})") from None
    if check and done.returncode != 0:
        last = (done.stderr.strip().splitlines() or done.stdout.strip().splitlines() or ["?"])[-1]
        raise ClusterError(f"{what} failed (exit {done.returncode}): {last}")
    return done


def _ip() -> str:
    found = shutil.which("ip")
    if found is None:
        raise LocalHostError("the `ip` command is missing: `apt-get install iproute2`")
    return found


def _cni_bin_dir() -> Path:
    for directory in CNI_DIRS:
        if (directory / "bridge").is_file() and (directory / "host-local").is_file():
            return directory
    raise LocalHostError(
        "the CNI plugins are missing: `apt-get install containernetworking-plugins` "
        f"(looked in {', '.join(map(str, CNI_DIRS))})"
    )


def _pids_with(marker: str) -> list[int]:
    """Pids of processes (not this one) whose command line contains ``marker``."""
    own = os.getpid()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == own:
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if marker in cmdline:
            found.append(int(entry.name))
    return found


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"


def _kill_all(pids: list[int], what: str) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
    try:
        wait_for_condition(
            lambda: not any(_alive(pid) for pid in pids),
            timeout=STOP_TIMEOUT_S,
            description=f"{what} to exit",
            backoff=Backoff(initial=0.01, factor=2, maximum=0.2),
        )
    except WaitTimeoutError:
        raise ClusterError(f"{what} {[p for p in pids if _alive(p)]} did not exit") from None


@contextlib.contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    def handler(signum: int, frame: FrameType | None) -> None:
        del signum, frame
        raise KeyboardInterrupt

    try:
        previous = signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


class LocalProvider(ClusterProvider):
    """One node, this host: ``create`` starts every component, ``delete`` undoes it all."""

    name = "local"
    runs_containers = True

    def __init__(self, config: ClusterConfig) -> None:
        super().__init__(config)
        self.dir = config.cluster_dir
        self.run_dir = Path("/run") / f"ktp-{config.name}"
        #: The kubelet's root: short, because it nests unix sockets (pod-resources) in it.
        self.kubelet_dir = Path("/var/lib") / f"ktp-{config.name}"
        self.pki = Pki(self.dir / "pki")
        self.logs_dir = self.dir / "logs"
        self._binaries: K8sBinaries | None = None

    # --- paths -----------------------------------------------------------------------

    @property
    def containerd_socket(self) -> Path:
        return self.run_dir / "containerd.sock"

    @property
    def snapshot_path(self) -> Path:
        return self.dir / "host-before-up.json"

    def kubeconfig_path(self) -> Path:
        return self.config.kubeconfig

    def exists(self) -> bool:
        return (self.dir / "ports.json").is_file()

    def dashboard_url(self, node_port: int) -> str:
        return f"http://{NODE_IP}:{node_port}"

    # --- checks ------------------------------------------------------------------------

    def _check_host(self) -> None:
        if sys.platform != "linux":
            raise LocalHostError("the local provider runs on Linux only; use kind elsewhere")
        if os.geteuid() != 0:
            raise LocalHostError(
                "the local provider needs root (network namespaces, cgroups, mounts): run as "
                "root or under sudo, or use TEST_CLUSTER_PROVIDER=kind"
            )
        if not Path("/sys/fs/cgroup").is_dir():
            raise LocalHostError("no cgroup filesystem at /sys/fs/cgroup")
        for tool in ("iptables", "iptables-save", "iptables-restore", "ipset", "openssl", "ip"):
            if shutil.which(tool) is None:
                package = {"ip": "iproute2", "openssl": "openssl", "ipset": "ipset"}.get(
                    tool, "iptables"
                )
                raise LocalHostError(f"{tool} is not installed: `apt-get install {package}`")
        _cni_bin_dir()
        others = [
            p for p in Path("/run").glob("ktp-*") if p != self.run_dir and (p / "owner").is_file()
        ]
        if others:
            raise LocalHostError(
                f"another local cluster runs on this host ({others[0]}): kube-proxy's iptables "
                "chains are host-wide; `nox -s down` it first (TEST_CLUSTER_NAME=its name)"
            )

    @staticmethod
    def cgroup_v1() -> bool:
        return not Path("/sys/fs/cgroup/cgroup.controllers").is_file()

    # --- lifecycle ---------------------------------------------------------------------

    def create(self, *, wait_seconds: float = 300) -> Path:
        from testing.images import choose_source  # noqa: PLC0415 - `down` needs no images

        if self.exists():
            reused = self._reuse()
            if reused is not None:
                return reused
        elif any(d.exists() for d in (self.dir, self.run_dir, self.kubelet_dir)):
            self.delete()  # leftovers of a run that died early
        self._check_host()
        choice = choose_source(self.name)
        print(f"images: {choice.source} ({choice.reason})", file=sys.stderr, flush=True)
        started = time.monotonic()
        with _sigterm_as_interrupt():
            binaries = self._binaries or ensure_binaries()
            self._binaries = binaries
            runtime = {name: tools.resolve(name) for name in ("containerd", "runc", "kube-router")}
            from testing.images import ensure  # noqa: PLC0415

            archives = ensure(NODE_IMAGES, choice.source)
            try:
                self._start(binaries, runtime, choice.source, archives, wait_seconds, started)
            except BaseException:
                if os.environ.get(KEEP_ON_FAILURE_ENV) == "1":
                    print(
                        f"local: kept for debugging ({KEEP_ON_FAILURE_ENV}=1); logs: "
                        f"{self.logs_dir}; `nox -s down` removes it",
                        file=sys.stderr,
                    )
                    raise
                try:
                    self.delete()
                except ClusterError as cleanup:  # keep the original error in front
                    print(f"local: cleanup after the failure: {cleanup}", file=sys.stderr)
                raise
        logger.info("local cluster ready in %.1fs", time.monotonic() - started)
        print(f"local: cluster ready in {time.monotonic() - started:.1f}s", file=sys.stderr)
        return self.kubeconfig_path()

    def _reuse(self) -> Path | None:
        from testing.cluster.readiness import ApiNotReadyError, wait_for_api_ready  # noqa: PLC0415

        dead = [c for c in (*CONTROL_PLANE, *NODE) if not self._running(c)]
        if not dead:
            try:
                wait_for_api_ready(self.kubeconfig_path(), timeout=30)
            except ApiNotReadyError as exc:
                logger.warning("local cluster not ready (%s); recreating it", exc)
            else:
                return self.kubeconfig_path()
        else:
            print(f"local: {', '.join(dead)} not running; recreating the cluster", file=sys.stderr)
        self.delete()
        return None

    def _running(self, component: str) -> bool:
        pid_file = self.run_dir / f"{component}.pid"
        try:
            return _alive(int(pid_file.read_text()))
        except (OSError, ValueError):
            return False

    def _start(  # noqa: PLR0917 - one call site, every argument named there
        self,
        binaries: K8sBinaries,
        runtime: dict[str, Path],
        source: str,
        archives: dict[str, Path | None],
        wait_seconds: float,
        started: float,
    ) -> None:
        for directory in (self.dir, self.run_dir, self.logs_dir, self.kubelet_dir):
            directory.mkdir(parents=True, exist_ok=True)
            directory.chmod(0o700)
        HostSnapshot.take().save(self.snapshot_path)
        (self.run_dir / "owner").write_text(str(self.dir), encoding="utf-8")
        free = _free_ports(9)
        ports = _Ports(*free)
        (self.dir / "ports.json").write_text(json.dumps(ports.__dict__), encoding="utf-8")
        self._bridge_up()
        self._make_pki()
        server = f"https://{NODE_IP}:{ports.api}"
        for stem in (
            "admin",
            "controller-manager",
            "scheduler",
            "kubelet",
            "kube-proxy",
            "kube-router",
        ):
            write_private(
                self.dir / f"{stem}.kubeconfig",
                kubeconfig_text(server=server, pki=self.pki, stem=stem, name=self.config.name),
            )
        shutil.copyfile(self.dir / "admin.kubeconfig", self.kubeconfig_path())
        self.kubeconfig_path().chmod(0o600)
        self._start_control_plane(binaries, ports)
        self._wait_readyz(binaries, max(wait_seconds - (time.monotonic() - started), 10.0))
        self._start_controllers(binaries, ports)
        remaining = max(wait_seconds - (time.monotonic() - started), 10.0)
        self._wait_api(remaining)
        self._start_containerd(runtime, source)
        self._import(runtime, archives)
        self._start_kubelet(binaries, ports)
        self._start_kube_proxy(binaries, ports)
        self._apply_addons(binaries, source)
        remaining = max(wait_seconds - (time.monotonic() - started), 10.0)
        self._wait_node_and_addons(binaries, runtime, remaining)

    def _bridge_up(self) -> None:
        ip = _ip()
        if not Path(f"/sys/class/net/{BRIDGE}").exists():
            _run([ip, "link", "add", BRIDGE, "type", "bridge"], what=f"creating bridge {BRIDGE}")
        _run([ip, "addr", "replace", f"{NODE_IP}/24", "dev", BRIDGE], what="addressing the bridge")
        _run([ip, "link", "set", BRIDGE, "up"], what="bringing the bridge up")

    def _make_pki(self) -> None:
        api_names = (
            "kubernetes",
            "kubernetes.default",
            "kubernetes.default.svc",
            "kubernetes.default.svc.cluster.local",
            "localhost",
        )
        self.pki.create(
            [
                Identity("etcd", "etcd", dns=("localhost",), ips=("127.0.0.1",), server=True),
                Identity("apiserver-etcd-client", "kube-apiserver-etcd-client"),
                Identity(
                    "apiserver",
                    "kube-apiserver",
                    dns=api_names,
                    ips=(NODE_IP, API_SERVICE_IP, "127.0.0.1"),
                    server=True,
                    client=False,
                ),
                Identity(
                    "apiserver-kubelet-client", "kube-apiserver-kubelet-client", "system:masters"
                ),
                Identity("admin", "ktp-admin", "system:masters"),
                Identity("controller-manager", "system:kube-controller-manager"),
                Identity("scheduler", "system:kube-scheduler"),
                Identity("kubelet", f"system:node:{NODE_NAME}", "system:nodes"),
                Identity(
                    "kubelet-serving",
                    NODE_NAME,
                    dns=(NODE_NAME,),
                    ips=(NODE_IP,),
                    server=True,
                    client=False,
                ),
                Identity("kube-proxy", "system:kube-proxy"),
                Identity("kube-router", "system:kube-router"),
            ]
        )

    def _spawn(self, component: str, argv: list[str], env: dict[str, str] | None = None) -> None:
        log = (self.logs_dir / f"{component}.log").open("ab")
        try:
            process = subprocess.Popen(
                argv,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                env={**_base_env(), **(env or {})},
            )
        finally:
            log.close()
        (self.run_dir / f"{component}.pid").write_text(str(process.pid), encoding="utf-8")

    def _start_control_plane(self, binaries: K8sBinaries, ports: _Ports) -> None:
        p, d = self.pki, self.dir
        etcd_url = f"https://127.0.0.1:{ports.etcd}"
        peer_url = f"https://127.0.0.1:{ports.etcd_peer}"
        self._spawn(
            "etcd",
            [
                str(binaries.path("etcd")),
                "--name=node0",
                f"--data-dir={d / 'etcd'}",
                f"--listen-client-urls={etcd_url}",
                f"--advertise-client-urls={etcd_url}",
                f"--listen-peer-urls={peer_url}",
                f"--initial-advertise-peer-urls={peer_url}",
                f"--initial-cluster=node0={peer_url}",
                "--listen-metrics-urls=",
                "--client-cert-auth",
                f"--trusted-ca-file={p.crt('ca')}",
                f"--cert-file={p.crt('etcd')}",
                f"--key-file={p.key('etcd')}",
                "--peer-client-cert-auth",
                f"--peer-trusted-ca-file={p.crt('ca')}",
                f"--peer-cert-file={p.crt('etcd')}",
                f"--peer-key-file={p.key('etcd')}",
                "--log-level=warn",
            ],
        )
        self._spawn(
            "kube-apiserver",
            [
                str(binaries.path("kube-apiserver")),
                f"--etcd-servers={etcd_url}",
                f"--etcd-cafile={p.crt('ca')}",
                f"--etcd-certfile={p.crt('apiserver-etcd-client')}",
                f"--etcd-keyfile={p.key('apiserver-etcd-client')}",
                f"--bind-address={NODE_IP}",
                f"--advertise-address={NODE_IP}",
                f"--secure-port={ports.api}",
                f"--tls-cert-file={p.crt('apiserver')}",
                f"--tls-private-key-file={p.key('apiserver')}",
                f"--client-ca-file={p.crt('ca')}",
                f"--kubelet-client-certificate={p.crt('apiserver-kubelet-client')}",
                f"--kubelet-client-key={p.key('apiserver-kubelet-client')}",
                f"--kubelet-certificate-authority={p.crt('ca')}",
                "--kubelet-preferred-address-types=InternalIP",
                f"--service-account-key-file={d / 'pki' / 'sa.pub'}",
                f"--service-account-signing-key-file={p.key('sa')}",
                "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
                f"--service-cluster-ip-range={SERVICE_CIDR}",
                "--authorization-mode=Node,RBAC",
                "--enable-admission-plugins=NodeRestriction",
                "--allow-privileged=true",
                "--anonymous-auth=false",
                "--profiling=false",
            ],
        )

    def _start_controllers(self, binaries: K8sBinaries, ports: _Ports) -> None:
        """After /readyz: they exit at once if RBAC's bootstrap roles are not there yet."""
        p, d = self.pki, self.dir
        common = ["--bind-address=127.0.0.1", "--leader-elect=false", "--profiling=false"]
        kcm = d / "controller-manager.kubeconfig"
        self._spawn(
            "kube-controller-manager",
            [
                str(binaries.path("kube-controller-manager")),
                *common,
                f"--secure-port={ports.controller_manager}",
                f"--kubeconfig={kcm}",
                f"--authentication-kubeconfig={kcm}",
                f"--authorization-kubeconfig={kcm}",
                f"--service-account-private-key-file={p.key('sa')}",
                f"--root-ca-file={p.crt('ca')}",
                f"--cluster-signing-cert-file={p.crt('ca')}",
                f"--cluster-signing-key-file={p.key('ca')}",
                "--use-service-account-credentials=true",
                f"--service-cluster-ip-range={SERVICE_CIDR}",
            ],
        )
        sched = d / "scheduler.kubeconfig"
        self._spawn(
            "kube-scheduler",
            [
                str(binaries.path("kube-scheduler")),
                *common,
                f"--secure-port={ports.scheduler}",
                f"--kubeconfig={sched}",
                f"--authentication-kubeconfig={sched}",
                f"--authorization-kubeconfig={sched}",
            ],
        )

    def _kubectl(self, binaries: K8sBinaries) -> tuple[list[str], dict[str, str]]:
        argv = [str(binaries.path("kubectl")), f"--kubeconfig={self.kubeconfig_path()}"]
        return argv, {**_base_env(), "KUBECACHEDIR": str(self.dir / "kube-cache")}

    def _wait_readyz(self, binaries: K8sBinaries, timeout: float) -> None:
        kubectl, env = self._kubectl(binaries)

        def ready() -> bool:
            if not self._running("kube-apiserver") or not self._running("etcd"):
                raise TerminalFailure(f"the control plane exited\n{self._explain_dead()}")
            done = _run(
                [*kubectl, "get", "--raw=/readyz", "--request-timeout=5s"],
                what="kubectl get --raw=/readyz",
                check=False,
                timeout=15,
                env=env,
            )
            return done.returncode == 0

        try:
            wait_for_condition(
                ready,
                timeout=timeout,
                description="kube-apiserver /readyz",
                backoff=Backoff(initial=0.2, factor=1.5, maximum=1.0),
            )
        except (WaitTimeoutError, ConditionFailedError) as exc:
            raise ClusterError(f"{exc}\n{self._explain_dead()}") from None

    def _wait_api(self, timeout: float) -> None:
        from testing.cluster.readiness import ApiNotReadyError, wait_for_api_ready  # noqa: PLC0415

        try:
            wait_for_api_ready(self.kubeconfig_path(), timeout=timeout)
        except ApiNotReadyError as exc:
            raise ClusterError(f"{exc}\n{self._explain_dead()}") from None

    def _explain_dead(self) -> str:
        lines = []
        for component in (*CONTROL_PLANE, *NODE):
            pid_file = self.run_dir / f"{component}.pid"
            if pid_file.is_file() and not self._running(component):
                log = self.logs_dir / f"{component}.log"
                tail = tools.tail(log.read_text(errors="replace") if log.is_file() else "", 8)
                lines.append(f"{component} exited; last lines of {log}:\n{tail}")
        return "\n".join(lines)

    def _start_containerd(self, runtime: dict[str, Path], source: str) -> None:
        from testing.images import reference  # noqa: PLC0415

        runc = runtime["runc"].parent / "runc"
        binary = runc
        if runc_wrapper.needs_wrapper():
            binary = self.dir / "bin" / "runc-wrapper"
            binary.parent.mkdir(parents=True, exist_ok=True)
            interpreter = shutil.which("python3", path="/usr/bin:/bin") or sys.executable
            binary.write_text(runc_wrapper.script(str(runc), interpreter), encoding="utf-8")
            binary.chmod(0o700)
            print(
                "local: this host's root lacks CAP_SYS_RESOURCE; runc runs through "
                f"{binary} (drops that capability from container specs)",
                file=sys.stderr,
            )
        cni_conf = self.dir / "cni" / "net.d"
        cni_conf.mkdir(parents=True, exist_ok=True)
        (cni_conf / "10-ktp.conflist").write_text(json.dumps(self._cni_config(), indent=1))
        config = f"""version = 3
root = '{self.dir / "containerd"}'
state = '{self.run_dir / "containerd"}'
[grpc]
  address = '{self.containerd_socket}'
[plugins.'io.containerd.cri.v1.images']
  snapshotter = 'overlayfs'
  [plugins.'io.containerd.cri.v1.images'.pinned_images]
    sandbox = '{reference("pause", source)}'
[plugins.'io.containerd.cri.v1.runtime']
  restrict_oom_score_adj = true
  netns_mounts_under_state_dir = true
  [plugins.'io.containerd.cri.v1.runtime'.containerd]
    default_runtime_name = 'runc'
    [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc]
      runtime_type = 'io.containerd.runc.v2'
      [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options]
        BinaryName = '{binary}'
        SystemdCgroup = false
  [plugins.'io.containerd.cri.v1.runtime'.cni]
    bin_dirs = ['{_cni_bin_dir()}']
    conf_dir = '{cni_conf}'
[plugins.'io.containerd.grpc.v1.cri']
  stream_server_address = '127.0.0.1'
  stream_server_port = '0'
"""
        path = self.dir / "containerd.toml"
        path.write_text(config, encoding="utf-8")
        # The shim (containerd-shim-runc-v2) is found on PATH, beside containerd.
        shim_path = f"{runtime['containerd'].parent}:{_base_env()['PATH']}"
        self._spawn(
            "containerd", [str(runtime["containerd"]), "--config", str(path)], {"PATH": shim_path}
        )
        ctr = str(runtime["containerd"].parent / "ctr")
        try:
            wait_for_condition(
                lambda: (
                    _run(
                        [ctr, "--address", str(self.containerd_socket), "version"],
                        what="ctr version",
                        check=False,
                        timeout=10,
                    ).returncode
                    == 0
                ),
                timeout=60,
                description="containerd to answer",
                backoff=Backoff(initial=0.1, factor=1.5, maximum=1.0),
            )
        except WaitTimeoutError:
            raise ClusterError(f"containerd did not start\n{self._explain_dead()}") from None

    def _cni_config(self) -> dict[str, Any]:
        return {
            "cniVersion": "1.0.0",
            "name": "ktp",
            "plugins": [
                {
                    "type": "bridge",
                    "bridge": BRIDGE,
                    "isGateway": True,
                    "ipMasq": True,
                    "hairpinMode": True,
                    "ipam": {
                        "type": "host-local",
                        "ranges": [[{"subnet": POD_CIDR, "gateway": NODE_IP}]],
                        "routes": [{"dst": "0.0.0.0/0"}],
                        "dataDir": str(self.dir / "cni" / "ipam"),
                    },
                },
                {"type": "portmap", "capabilities": {"portMappings": True}},
            ],
        }

    def _ctr(self, runtime: dict[str, Path]) -> list[str]:
        ctr = runtime["containerd"].parent / "ctr"
        return [str(ctr), "--address", str(self.containerd_socket), "--namespace", "k8s.io"]

    def _import(self, runtime: dict[str, Path], archives: dict[str, Path | None]) -> None:
        for key, archive in archives.items():
            if archive is not None:
                _run(
                    [*self._ctr(runtime), "images", "import", "--local", str(archive)],
                    what=f"importing the {key} image",
                    timeout=600,
                )

    def _start_kubelet(self, binaries: K8sBinaries, ports: _Ports) -> None:
        p = self.pki
        config: dict[str, Any] = {
            "apiVersion": "kubelet.config.k8s.io/v1beta1",
            "kind": "KubeletConfiguration",
            "address": NODE_IP,
            "port": ports.kubelet,
            "readOnlyPort": 0,
            "healthzBindAddress": "127.0.0.1",
            "healthzPort": ports.kubelet_healthz,
            "authentication": {
                "anonymous": {"enabled": False},
                "webhook": {"enabled": True},
                "x509": {"clientCAFile": str(p.crt("ca"))},
            },
            "authorization": {"mode": "Webhook"},
            "tlsCertFile": str(p.crt("kubelet-serving")),
            "tlsPrivateKeyFile": str(p.key("kubelet-serving")),
            "clusterDomain": "cluster.local",
            "clusterDNS": [DNS_SERVICE_IP],
            "cgroupDriver": "cgroupfs",
            "cgroupRoot": f"/{CGROUP_ROOT}",
            "failSwapOn": False,
            "containerRuntimeEndpoint": f"unix://{self.containerd_socket}",
            "podLogsDir": str(self.dir / "pod-logs"),
            "evictionHard": {
                "memory.available": "100Mi",
                "nodefs.available": "1%",
                "imagefs.available": "1%",
            },
            "imageGCHighThresholdPercent": 100,
            "imageGCLowThresholdPercent": 99,
            "serializeImagePulls": False,
            "resolvConf": "/etc/resolv.conf",
        }
        if self.cgroup_v1():
            # kubelet 1.35+ refuses cgroup v1 unless told otherwise (deprecated, not removed).
            config["failCgroupV1"] = False
        path = self.dir / "kubelet.yaml"
        path.write_text(yaml.safe_dump(config), encoding="utf-8")
        self._make_cgroup_root()
        self._spawn(
            "kubelet",
            [
                str(binaries.path("kubelet")),
                f"--config={path}",
                f"--kubeconfig={self.dir / 'kubelet.kubeconfig'}",
                f"--root-dir={self.kubelet_dir}",
                f"--hostname-override={NODE_NAME}",
                f"--node-ip={NODE_IP}",
                "--v=1",
            ],
        )

    def _make_cgroup_root(self) -> None:
        """The kubelet's ``cgroupRoot`` must exist in every hierarchy; ``down`` removes it."""
        root = Path("/sys/fs/cgroup")
        if not self.cgroup_v1():
            (root / CGROUP_ROOT).mkdir(exist_ok=True)
            return
        for hierarchy in sorted(p for p in root.iterdir() if p.is_dir() and p.name != "unified"):
            target = hierarchy / CGROUP_ROOT
            target.mkdir(exist_ok=True)
            for name in ("cpuset.cpus", "cpuset.mems"):  # a new cpuset starts empty
                if (hierarchy / name).is_file():
                    (target / name).write_text((hierarchy / name).read_text())

    def _start_kube_proxy(self, binaries: K8sBinaries, ports: _Ports) -> None:
        config = {
            "apiVersion": "kubeproxy.config.k8s.io/v1alpha1",
            "kind": "KubeProxyConfiguration",
            "clientConnection": {"kubeconfig": str(self.dir / "kube-proxy.kubeconfig")},
            "mode": "iptables",
            "clusterCIDR": POD_CIDR,
            "hostnameOverride": NODE_NAME,
            "metricsBindAddress": f"127.0.0.1:{ports.proxy_metrics}",
            "healthzBindAddress": f"127.0.0.1:{ports.proxy_healthz}",
            # Leave the host's conntrack sysctls alone.
            "conntrack": {
                "maxPerCore": 0,
                "min": 0,
                "tcpEstablishedTimeout": "0s",
                "tcpCloseWaitTimeout": "0s",
            },
            # NodePorts on the node address only: no route_localnet change on the host.
            "nodePortAddresses": [f"{NODE_IP}/32"],
        }
        path = self.dir / "kube-proxy.yaml"
        path.write_text(yaml.safe_dump(config), encoding="utf-8")
        self._spawn("kube-proxy", [str(binaries.path("kube-proxy")), f"--config={path}"])

    def _start_kube_router(self, binary: Path) -> None:
        """Only the policy controller: pod networking is the bridge plugin's, Services
        are kube-proxy's. It reads the node object at start, so it starts after the
        node registered; no health or metrics port is opened."""
        self._spawn(
            "kube-router",
            [
                str(binary),
                f"--kubeconfig={self.dir / 'kube-router.kubeconfig'}",
                f"--hostname-override={NODE_NAME}",
                "--run-firewall=true",
                "--run-router=false",
                "--run-service-proxy=false",
                "--enable-cni=false",
                f"--service-cluster-ip-range={SERVICE_CIDR}",
                "--health-port=0",
                "--metrics-port=0",
            ],
        )

    def _apply_addons(self, binaries: K8sBinaries, source: str) -> None:
        from testing.images import references  # noqa: PLC0415

        images = references(source)
        text = "\n---\n".join(
            path.read_text(encoding="utf-8") for path in sorted(ADDONS_DIR.glob("*.yaml"))
        )
        for placeholder in ("coredns", "local-path-provisioner", "local-path-helper"):
            text = text.replace(f"image: {placeholder}\n", f"image: {images[placeholder]}\n")
        text = text.replace("@DNS_SERVICE_IP@", DNS_SERVICE_IP)
        text = text.replace("@LOCAL_PATH_DIR@", str(self.dir / "local-path"))
        rendered = self.dir / "addons.yaml"
        rendered.write_text(text, encoding="utf-8")
        _run(
            [
                str(binaries.path("kubectl")),
                f"--kubeconfig={self.kubeconfig_path()}",
                "apply",
                "--server-side",
                "-f",
                str(rendered),
            ],
            what="applying CoreDNS and the local-path provisioner",
            env={**_base_env(), "KUBECACHEDIR": str(self.dir / "kube-cache")},
        )

    def _wait_node_and_addons(
        self, binaries: K8sBinaries, runtime: dict[str, Path], timeout: float
    ) -> None:
        kubectl = [str(binaries.path("kubectl")), f"--kubeconfig={self.kubeconfig_path()}"]
        env = {**_base_env(), "KUBECACHEDIR": str(self.dir / "kube-cache")}
        deadline = time.monotonic() + timeout

        def registered() -> bool:
            if not self._running("kubelet"):
                raise TerminalFailure(f"kubelet exited\n{self._explain_dead()}")
            return (
                _run(
                    [*kubectl, "get", f"node/{NODE_NAME}"],
                    what="kubectl get node",
                    check=False,
                    timeout=20,
                    env=env,
                ).returncode
                == 0
            )

        try:
            wait_for_condition(
                registered,
                timeout=timeout,
                description="the node to register",
                backoff=Backoff(initial=0.2, factor=1.5, maximum=1.0),
            )
        except (WaitTimeoutError, ConditionFailedError) as exc:
            raise ClusterError(f"{exc}; logs: {self.logs_dir}") from None
        self._start_kube_router(runtime["kube-router"])
        steps = [
            (["wait", "--for=condition=Ready", f"node/{NODE_NAME}"], "the node to be Ready"),
            (["-n", "kube-system", "rollout", "status", "deployment/coredns"], "CoreDNS"),
            (
                [
                    "-n",
                    "local-path-storage",
                    "rollout",
                    "status",
                    "deployment/local-path-provisioner",
                ],
                "the local-path provisioner",
            ),
        ]
        for args, what in steps:
            left = max(deadline - time.monotonic(), 5.0)
            done = _run(
                [*kubectl, *args, f"--timeout={int(left)}s"],
                what=f"waiting for {what}",
                timeout=left + 15,
                check=False,
                env=env,
            )
            if done.returncode != 0:
                raise ClusterError(
                    f"{what} did not become ready: {done.stderr.strip()[-300:]}\n"
                    f"{self._explain_dead()}\nlogs: {self.logs_dir}"
                )
        # A node component that died meanwhile (kube-router on a kernel without ipset,
        # say) would leave a cluster that looks ready but is not what was asked for.
        dead = self._explain_dead()
        if dead:
            raise ClusterError(f"a node component exited during up: {dead}\nlogs: {self.logs_dir}")

    def wait_until_ready(self, *, timeout: float = 120) -> None:
        from testing.cluster.readiness import wait_for_api_ready  # noqa: PLC0415

        wait_for_api_ready(self.kubeconfig_path(), timeout=timeout)

    # --- teardown --------------------------------------------------------------------

    def delete(self) -> None:
        """Stop every process, unmount, drop network state, restore the host; idempotent."""
        if not any(d.exists() for d in (self.dir, self.run_dir, self.kubelet_dir)):
            return
        # kubelet first, so nothing restarts pods while they are taken down.
        for component in ("kubelet", "kube-proxy", "kube-router"):
            self._stop(component)
        self._kill_cgroup()
        shims = _pids_with(str(self.run_dir))
        if shims:
            _kill_all(shims, "containerd and its shims")
        dir_pids = _pids_with(str(self.dir))
        if dir_pids:
            _kill_all(dir_pids, "cluster processes")
        self._unmount()
        self._remove_cgroups()
        if Path(f"/sys/class/net/{BRIDGE}").exists():
            _run([_ip(), "link", "delete", BRIDGE], what=f"deleting bridge {BRIDGE}", check=False)
        before = HostSnapshot.load(self.snapshot_path)
        if before is not None:
            restore(before)
        for directory in (self.run_dir, self.kubelet_dir, self.dir):
            shutil.rmtree(directory, ignore_errors=True)
        for leftover in (self.dir, self.run_dir, self.kubelet_dir):
            if leftover.exists():
                raise ClusterError(f"could not remove {leftover}: see `findmnt -R {leftover}`")

    def _stop(self, component: str) -> None:
        pid_file = self.run_dir / f"{component}.pid"
        try:
            pid = int(pid_file.read_text())
        except (OSError, ValueError):
            return
        if _alive(pid):
            _kill_all([pid], component)

    def _cgroup_dirs(self) -> list[Path]:
        root = Path("/sys/fs/cgroup")
        candidates = [root / CGROUP_ROOT] + [d / CGROUP_ROOT for d in root.iterdir() if d.is_dir()]
        return [c for c in candidates if c.is_dir()]

    def _cgroup_tree(self) -> list[Path]:
        """Every cgroup directory under ours, deepest first; tolerant of cgroups that vanish
        while being listed (the kernel and the kubelet remove them as pods die)."""
        found: list[Path] = []
        for top in self._cgroup_dirs():
            for root, dirs, _ in os.walk(top, onerror=lambda _: None):
                found += [Path(root) / d for d in dirs]
        return sorted(found, key=lambda p: -len(p.parts))

    def _kill_cgroup(self) -> None:
        pids: set[int] = set()
        for directory in [*self._cgroup_tree(), *self._cgroup_dirs()]:
            with contextlib.suppress(OSError, ValueError):
                pids.update(int(x) for x in (directory / "cgroup.procs").read_text().split())
        if pids:
            _kill_all(sorted(pids), "pod processes")

    def _remove_cgroups(self) -> None:
        for directory in [*self._cgroup_tree(), *self._cgroup_dirs()]:
            with contextlib.suppress(OSError):
                directory.rmdir()

    def _unmount(self) -> None:
        prefixes = tuple(f"{d}/" for d in (self.dir, self.run_dir, self.kubelet_dir))
        for _ in range(5):
            lines = Path("/proc/self/mountinfo").read_text(encoding="utf-8").splitlines()
            points = [line.split()[4].replace("\\040", " ") for line in lines]
            # The kubelet bind-mounts its root dir onto itself: that mount is ours too.
            ours = [p for p in points if p.startswith(prefixes) or f"{p}/" in prefixes]
            if not ours:
                return
            for point in sorted(ours, key=len, reverse=True):
                with contextlib.suppress(ClusterError):
                    _run(["umount", "--lazy", point], what=f"unmounting {point}", check=False)
        raise ClusterError(f"mounts under {self.dir} remain: see `findmnt -R {self.dir}`")

    # --- images and logs -----------------------------------------------------------

    def load_image(self, image: str) -> None:
        raise ClusterError(
            f"the local provider has no Docker to take {image} from: load an archive "
            "(`python -m testing.cluster load-image --archive FILE`)"
        )

    def load_image_archive(self, archive: Path) -> None:
        if not archive.is_file():
            raise ClusterError(f"image archive {archive} does not exist")
        runtime = {"containerd": tools.resolve("containerd")}
        _run(
            [*self._ctr(runtime), "images", "import", "--local", str(archive)],
            what=f"importing {archive.name}",
            timeout=600,
        )

    def export_logs(self, destination: Path | None = None) -> Path:
        target = destination or self.config.diagnostics_dir
        target.mkdir(parents=True, exist_ok=True)
        if not self.exists():
            raise ClusterError(f"local cluster {self.config.name!r} does not exist: no logs")
        for log in sorted(self.logs_dir.glob("*.log")):
            shutil.copyfile(log, target / log.name)
        return target


def _base_env() -> dict[str, str]:
    """A small environment for the components: no inherited credentials or KUBECONFIG."""
    keep = ("PATH", "HOME", "LANG", "TZ")
    env = {k: os.environ[k] for k in keep if k in os.environ}
    env.setdefault("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
    return env
