"""The ``local`` provider for real: a kubelet, containerd and runc on this host.

Needs root, like the provider itself (network namespaces, cgroups, mounts): marked
``needs_root``, so a run as another user (a GitHub runner) deselects it by name. It runs
when no other local cluster is up (``.ci/run`` runs it before the e2e cluster), builds
nothing but the node's images (cached), and takes about 20 s warm. The provider allows
one local cluster per host, and the tests compare the host before and after, so they take
turns with every such test through the ``host_slot`` lock (pytest-xdist may run them on
two workers at once).
"""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client as k8s_client

from testing import images
from testing.cluster.base import ClusterConfig
from testing.cluster.host_state import HostSnapshot
from testing.cluster.local import CGROUP_ROOT, LocalProvider
from testing.k8s.client import api_client
from testing.polling import wait_for_condition
from tests.support import cluster_cli, whoami_pod

pytestmark = pytest.mark.needs_root

DENY_ALL = {
    "apiVersion": "networking.k8s.io/v1",
    "kind": "NetworkPolicy",
    "metadata": {"name": "deny-all"},
    "spec": {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]},
}


#: Where the provider's mounts go; other tests running in parallel (a private dockerd)
#: may mount elsewhere meanwhile.
OUR_MOUNT_ROOTS = ("/run/netns", "/run/ktp-", "/var/lib/ktp-", "/sys/fs/cgroup", "/tmp/pytest-")


def _comparable(snapshot: HostSnapshot) -> dict[str, Any]:
    return {
        "sysctls": snapshot.sysctls,
        "iptables": {t: sorted(lines) for t, lines in snapshot.iptables.items()},
        "links": snapshot.links,
        "netns": snapshot.netns,
        "mounts": sorted(m for m in snapshot.mounts if m.startswith(OUR_MOUNT_ROOTS)),
        "ipsets": snapshot.ipsets,
    }


@pytest.mark.requirement("LOC-001", "LOC-002")
@pytest.mark.usefixtures("host_slot")
def test_real_pod_runs_and_down_restores_the_host(tmp_path: Path) -> None:
    before = HostSnapshot.take()
    provider = LocalProvider(ClusterConfig(name="ktp-loc-it", state_dir=tmp_path / "clusters"))
    try:
        kubeconfig = provider.create(wait_seconds=240)
        api = api_client(kubeconfig)
        core = k8s_client.CoreV1Api(api)
        # A policy makes the enforcer (kube-router) write ipsets and chains for down to undo.
        k8s_client.NetworkingV1Api(api).create_namespaced_network_policy("default", DENY_ALL)
        helper = images.reference("local-path-helper", "built")
        pod, log = whoami_pod.run_to_completion(core, helper)
        assert log == f"uid={whoami_pod.POD_UID}"
        assert pod.status.pod_ip.startswith("10.244.0.")
        assert pod.spec.node_name == "ktp-local"
        programmed = wait_for_condition(
            lambda: [s for s in HostSnapshot.take().ipsets if s not in before.ipsets],
            timeout=60,
            description="kube-router to program the policy (new ipsets)",
        )
        assert all(name.startswith("KUBE-") for name in programmed), programmed
        api.close()
    finally:
        provider.delete()
    after = HostSnapshot.take()
    assert _comparable(after) == _comparable(before)
    assert not provider.config.cluster_dir.exists()
    assert not provider.run_dir.exists()
    assert not any(Path("/sys/fs/cgroup").glob(f"*/{CGROUP_ROOT}"))


def _processes_naming(*paths: Path) -> list[int]:
    """Live processes whose command line names one of ``paths``."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            argv = (proc / "cmdline").read_bytes().decode(errors="replace")
            state = (proc / "stat").read_text().rsplit(")", 1)[-1].split()[0]
        except OSError:
            continue
        if state != "Z" and any(str(p) in argv for p in paths):
            found.append(int(proc.name))
    return found


@pytest.mark.requirement("LOC-003")
@pytest.mark.usefixtures("host_slot")
def test_ctrl_c_during_up_removes_the_half_made_cluster(tmp_path: Path) -> None:
    """SIGINT to ``python -m testing.cluster up`` once the kubelet runs: exit 130, one
    line, and nothing of the cluster left (processes, files, cgroups, host changes)."""
    before = HostSnapshot.take()
    name = "ktp-loc-int"
    provider = LocalProvider(ClusterConfig(name=name, state_dir=tmp_path / "state"))
    env = {
        **os.environ,
        "TEST_CLUSTER_PROVIDER": "local",
        "TEST_CLUSTER_NAME": name,
        "TEST_STATE_DIR": str(tmp_path / "state"),
    }
    env.pop("TEST_LOCAL_KEEP_ON_FAILURE", None)
    up = cluster_cli.start_up(env)
    kubelet_pid = provider.run_dir / "kubelet.pid"
    try:
        wait_for_condition(
            lambda: kubelet_pid.is_file() and kubelet_pid.read_text().strip().isdigit(),
            timeout=600,  # a cold machine builds the node's binaries and images first
            description="`up` to start the kubelet",
        )
        started = _processes_naming(provider.config.cluster_dir, provider.run_dir)
        os.killpg(up.pid, signal.SIGINT)
        _, stderr = up.communicate(timeout=180)
    finally:
        if up.poll() is None:
            up.kill()
            up.wait(timeout=10)
        provider.delete()  # only does something if the interrupted `up` left a part
    assert up.returncode == 130, stderr
    assert "Traceback" not in stderr
    assert stderr.strip().splitlines()[-1] == (
        "error: interrupted (Ctrl-C); cleaned up what was half made"
    )
    assert len(started) >= 5  # etcd, the API server, controllers, containerd, kubelet
    assert _processes_naming(provider.config.cluster_dir, provider.run_dir) == []
    assert not provider.config.cluster_dir.exists()
    assert not provider.run_dir.exists()
    assert not provider.kubelet_dir.exists()
    assert not any(Path("/sys/fs/cgroup").glob(f"*/{CGROUP_ROOT}"))
    assert _comparable(HostSnapshot.take()) == _comparable(before)
