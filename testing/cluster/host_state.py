"""What a provider changes on the host, recorded before ``up`` and undone by ``down``.

A real kubelet, kube-proxy, kube-router, the CNI plugins and containerd change the
host: iptables chains (``KUBE-*``, ``CNI-*``), ipsets, a bridge, network namespaces,
mounts and sysctls
(``net.ipv4.ip_forward`` by the bridge plugin; ``vm.overcommit_memory`` and
``kernel.panic*`` by the kubelet). :class:`HostSnapshot` records the parts the
``local`` provider may touch; :func:`restore` puts back the sysctls and removes the
iptables chains, rules and ipsets that were not there before, leaving everyone else's rules
(Docker's, a firewall's) as they are now. The integration test compares a snapshot
taken before ``up`` with one taken after ``down``.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import shutil
import subprocess
from dataclasses import asdict, dataclass, field
from pathlib import Path

from testing.cluster.base import ClusterError

IPTABLES_TIMEOUT_S = 60
TABLES = ("filter", "nat", "mangle")
#: Sysctls the kubelet, kube-proxy and the CNI plugins are known to write.
SYSCTLS = (
    "net/ipv4/ip_forward",
    "net/ipv4/conf/all/route_localnet",
    "net/bridge/bridge-nf-call-iptables",
    "net/bridge/bridge-nf-call-ip6tables",
    "vm/overcommit_memory",
    "vm/panic_on_oom",
    "kernel/panic",
    "kernel/panic_on_oops",
    "kernel/keys/root_maxkeys",
    "kernel/keys/root_maxbytes",
)
#: Chain-name prefixes that belong to Kubernetes networking components.
OWNED_PREFIXES = ("KUBE-", "CNI-")
#: ipset-name prefixes of kube-router's policy controller.
OWNED_IPSET_PREFIXES = ("KUBE-", "kube-router")


def _read_sysctl(name: str) -> str | None:
    try:
        return (Path("/proc/sys") / name).read_text(encoding="utf-8").strip()
    except OSError:
        return None


def _iptables_save(table: str) -> list[str]:
    tool = shutil.which("iptables-save")
    if tool is None:
        return []
    try:
        done = subprocess.run(
            [tool, "-t", table],
            capture_output=True,
            text=True,
            timeout=IPTABLES_TIMEOUT_S,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise ClusterError(
            f"iptables-save -t {table} ran longer than {IPTABLES_TIMEOUT_S}s"
        ) from None
    return [
        line
        for line in done.stdout.splitlines()
        if line and not line.startswith(("#", "[", "*")) and line != "COMMIT"
    ]


def _normalise(line: str) -> str:
    """A chain declaration without its packet counters."""
    return line.split(" [", 1)[0] if line.startswith(":") else line


def _ipset(args: list[str]) -> subprocess.CompletedProcess[str] | None:
    tool = shutil.which("ipset")
    if tool is None:
        return None
    try:
        return subprocess.run(
            [tool, *args], capture_output=True, text=True, timeout=IPTABLES_TIMEOUT_S, check=False
        )
    except subprocess.TimeoutExpired:
        raise ClusterError(
            f"ipset {' '.join(args)} ran longer than {IPTABLES_TIMEOUT_S}s"
        ) from None


def _ipsets() -> list[str]:
    done = _ipset(["list", "-n"])
    return sorted(done.stdout.split()) if done is not None and done.returncode == 0 else []


def _links() -> list[str]:
    return sorted(p.name for p in Path("/sys/class/net").iterdir())


def _netns() -> list[str]:
    directory = Path("/run/netns")
    return sorted(p.name for p in directory.iterdir()) if directory.is_dir() else []


def _cgroups() -> list[str]:
    """Top-level cgroups of every hierarchy (``memory/docker``, ``cpu/kubepods``, ...)."""
    root = Path("/sys/fs/cgroup")
    if not root.is_dir():
        return []
    found = []
    for hierarchy in sorted(root.iterdir()):
        if hierarchy.is_dir():
            found += [f"{hierarchy.name}/{p.name}" for p in hierarchy.iterdir() if p.is_dir()]
    return sorted(found)


def _mounts() -> list[str]:
    lines = Path("/proc/self/mountinfo").read_text(encoding="utf-8").splitlines()
    return sorted(line.split()[4] for line in lines)


@dataclass
class HostSnapshot:
    sysctls: dict[str, str | None] = field(default_factory=dict)
    iptables: dict[str, list[str]] = field(default_factory=dict)
    links: list[str] = field(default_factory=list)
    netns: list[str] = field(default_factory=list)
    mounts: list[str] = field(default_factory=list)
    ipsets: list[str] = field(default_factory=list)
    cgroups: list[str] = field(default_factory=list)

    @classmethod
    def take(cls) -> HostSnapshot:
        return cls(
            sysctls={name: _read_sysctl(name) for name in SYSCTLS},
            iptables={t: [_normalise(line) for line in _iptables_save(t)] for t in TABLES},
            links=_links(),
            netns=_netns(),
            mounts=_mounts(),
            ipsets=_ipsets(),
            cgroups=_cgroups(),
        )

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(asdict(self), indent=1), encoding="utf-8")

    @classmethod
    def load(cls, path: Path) -> HostSnapshot | None:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return cls(**data)


def owned_rule(line: str) -> bool:
    """Whether an ``iptables-save`` line declares or jumps to a Kubernetes/CNI chain."""
    return any(prefix in line for prefix in OWNED_PREFIXES)


def cleaned_table(current: list[str], before: list[str]) -> list[str]:
    """``current`` without the Kubernetes/CNI chains and rules that ``before`` lacked."""
    kept_before = {_normalise(line) for line in before}
    return [line for line in current if not owned_rule(line) or _normalise(line) in kept_before]


def _restore_table(table: str, lines: list[str]) -> None:
    tool = shutil.which("iptables-restore")
    if tool is None:
        return
    text = f"*{table}\n" + "\n".join(lines) + "\nCOMMIT\n"
    try:
        done = subprocess.run(
            [tool, "--table", table],
            input=text,
            capture_output=True,
            text=True,
            timeout=IPTABLES_TIMEOUT_S,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise ClusterError(f"iptables-restore ran longer than {IPTABLES_TIMEOUT_S}s") from None
    if done.returncode != 0:
        raise ClusterError(f"iptables-restore --table {table} failed: {done.stderr.strip()}")


def restore(before: HostSnapshot) -> None:
    """Put back the sysctls; drop the iptables chains and ipsets that appeared since
    ``before`` (sets after rules: a set that a rule references cannot be destroyed)."""
    for name, value in before.sysctls.items():
        if value is not None and _read_sysctl(name) not in (None, value):
            (Path("/proc/sys") / name).write_text(value + "\n", encoding="utf-8")
    for table in TABLES:
        current = _iptables_save(table)
        if not any(owned_rule(line) for line in current):
            continue
        cleaned = cleaned_table(current, before.iptables.get(table, []))
        if cleaned != current:
            _restore_table(table, cleaned)
    for name in _ipsets():
        if name.startswith(OWNED_IPSET_PREFIXES) and name not in before.ipsets:
            done = _ipset(["destroy", name])
            if done is not None and done.returncode != 0:
                raise ClusterError(f"ipset destroy {name} failed: {done.stderr.strip()}")


def unmount_below(directory: Path) -> None:
    """Lazily unmount whatever is still mounted below ``directory``, deepest first, so
    that removing the directory never reaches into a mounted file system."""
    prefix = str(directory.resolve()) + "/"
    umount = shutil.which("umount") or "/usr/bin/umount"
    for target in sorted((m for m in _mounts() if m.startswith(prefix)), key=len, reverse=True):
        subprocess.run(
            [umount, "-l", target], capture_output=True, timeout=IPTABLES_TIMEOUT_S, check=False
        )


CGROUP_ROOT = Path("/sys/fs/cgroup")


def remove_cgroups(name: str) -> None:
    """Remove the top-level cgroup ``name`` in every hierarchy, children first; a cgroup
    that still holds a process stays, and the host-state tests say so."""
    for top in [CGROUP_ROOT / name, *CGROUP_ROOT.glob(f"*/{name}")]:
        if not top.is_dir():
            continue
        nested = sorted((p for p in top.rglob("*") if p.is_dir()), key=lambda p: -len(p.parts))
        for directory in [*nested, top]:
            with contextlib.suppress(OSError):
                directory.rmdir()


def run_dir(cluster_dir: Path, prefix: str) -> Path:
    """``/run/<prefix>-<hash of cluster_dir>``: where a cluster keeps sockets, whose paths
    are limited to 108 bytes while a checkout's path can be long."""
    digest = hashlib.sha256(str(cluster_dir.resolve()).encode()).hexdigest()[:12]
    return Path("/run") / f"{prefix}-{digest}"
