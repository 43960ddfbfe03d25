"""kind for real, on the node image built here: in a dockerd the cluster starts for itself,
and in rootful Podman with the cluster's own Podman set-up.

No registry answers on this project's machines, so the node image is the one
:mod:`testing.images.kind_node` builds (cached; about a minute when cold). Needs root:
privileged node containers (marked ``needs_root``, so a run as another user deselects it
by name). For Docker, DOCKER_HOST names the cluster's own socket, so the test means the
same on a laptop where a system Docker answers. About a minute per runtime, warm. Its
kind config has no host port, so an e2e cluster may be up meanwhile.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client as k8s_client

from testing import images, pins
from testing.cluster import docker_daemon, podman_setup
from testing.cluster.base import ClusterConfig
from testing.cluster.host_state import HostSnapshot
from testing.cluster.kind import KindProvider
from testing.cluster.kind_cli import RUNTIME_ENV
from testing.k8s.client import api_client
from testing.polling import wait_for_condition
from tests.support import cluster_cli, whoami_pod

pytestmark = pytest.mark.needs_root

DOCKER = shutil.which("docker") or "docker"
#: What the cluster may change on the host, and must give back.
MOUNT_ROOTS = ("/run/ktp-", "/sys/fs/cgroup", "/run/netns", "/run/docker", "/var/lib/containers")


def _comparable(snapshot: HostSnapshot, *ours: Path) -> dict[str, Any]:
    roots = (*MOUNT_ROOTS, *(str(path) for path in ours))
    return {
        "iptables": {t: sorted(lines) for t, lines in snapshot.iptables.items()},
        "links": snapshot.links,
        "netns": snapshot.netns,
        "mounts": sorted(m for m in snapshot.mounts if m.startswith(roots)),
        "cgroups": snapshot.cgroups,
        "sysctls": snapshot.sysctls,
    }


def _running(core: k8s_client.CoreV1Api, namespace: str, prefix: str) -> list[str]:
    pods = core.list_namespaced_pod(namespace).items
    return [
        p.metadata.name
        for p in pods
        if p.metadata.name.startswith(prefix) and p.status.phase == "Running"
    ]


@pytest.mark.usefixtures("host_slot")
@pytest.mark.parametrize(
    "runtime",
    [
        pytest.param("docker", marks=pytest.mark.requirement("CLU-015")),
        pytest.param("podman", marks=pytest.mark.requirement("CLU-017")),
    ],
)
def test_kind_runs_real_pods_on_the_built_node_image_and_down_restores_the_host(
    tmp_path: Path, runtime: str
) -> None:
    config = ClusterConfig(name=f"ktp-{runtime}-it", state_dir=tmp_path / "clusters")
    own = docker_daemon.cluster_daemon_paths(config.cluster_dir)
    podman = podman_setup.cluster_podman_paths(config.cluster_dir)
    kind_config = tmp_path / "kind-config.yaml"
    kind_config.write_text("kind: Cluster\napiVersion: kind.x-k8s.io/v1alpha4\n")
    env = {"TEST_IMAGE_SOURCE": "built"}
    env |= {"DOCKER_HOST": own.host} if runtime == "docker" else {RUNTIME_ENV: "podman"}
    before = HostSnapshot.take()
    provider = KindProvider(config, env=env, kind_config=kind_config)
    try:
        kubeconfig = provider.create(wait_seconds=300)
        if runtime == "docker":
            assert docker_daemon.running_cluster_daemon(own) is not None
        else:
            assert podman_setup.configured(podman)
        api = api_client(kubeconfig)
        core = k8s_client.CoreV1Api(api)
        (node,) = core.list_node().items
        assert node.status.node_info.kubelet_version == pins.pin("kubernetes")
        assert node.status.node_info.container_runtime_version.startswith("containerd://2.")
        assert {c.type: c.status for c in node.status.conditions}["Ready"] == "True"
        for prefix in ("kube-router-", "coredns-"):
            wait_for_condition(
                lambda prefix=prefix: _running(core, "kube-system", prefix),
                timeout=120,
                description=f"a {prefix}* pod to run",
            )
        # The helper image is one the node image carries (imported at boot, never pulled).
        helper = images.reference("local-path-helper", "built")
        pod, log = whoami_pod.run_to_completion(core, helper)
        assert log == f"uid={whoami_pod.POD_UID}"
        assert pod.status.pod_ip.startswith("10.244.")
        api.close()
    finally:
        provider.delete()
    after = HostSnapshot.take()
    assert _comparable(after, own.run, tmp_path) == _comparable(before, own.run, tmp_path)
    assert docker_daemon.running_cluster_daemon(own) is None
    for directory in (own.run, own.data, podman.run, podman.data, config.cluster_dir):
        assert not directory.exists(), directory


def _node_containers(daemon: docker_daemon.DaemonPaths, cluster: str) -> str:
    """IDs of the kind node containers of ``cluster`` in the cluster's own dockerd ("" if none)."""
    if not (daemon.run / "docker.sock").exists():
        return ""
    done = subprocess.run(
        [DOCKER, "ps", "--quiet", "--filter", f"label=io.x-k8s.kind.cluster={cluster}"],
        env={**os.environ, "DOCKER_HOST": daemon.host},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    return done.stdout.strip() if done.returncode == 0 else ""


@pytest.mark.requirement("CLU-018")
@pytest.mark.usefixtures("host_slot")
def test_ctrl_c_during_kind_up_stops_the_clusters_dockerd_and_leaves_the_host_as_it_was(
    tmp_path: Path,
) -> None:
    """SIGINT to ``python -m testing.cluster up`` once kind's node container runs: exit 130,
    one line, and neither the cluster, its dockerd nor any host change is left."""
    name = "ktp-kind-int"
    config = ClusterConfig(name=name, state_dir=tmp_path / "state")
    own = docker_daemon.cluster_daemon_paths(config.cluster_dir)
    env = {
        **os.environ,
        "TEST_CLUSTER_PROVIDER": "kind",
        "TEST_CLUSTER_NAME": name,
        "TEST_STATE_DIR": str(tmp_path / "state"),
        "TEST_IMAGE_SOURCE": "built",
        "DOCKER_HOST": own.host,
    }
    before = HostSnapshot.take()
    up = cluster_cli.start_up(env)
    try:
        wait_for_condition(
            lambda: _node_containers(own, name),
            timeout=900,  # a cold machine builds the node image first
            description="kind to start the node container",
        )
        os.killpg(up.pid, signal.SIGINT)
        _, stderr = up.communicate(timeout=300)
        # What the interrupted `up` left, read before anything here cleans up.
        daemon_left = docker_daemon.running_cluster_daemon(own)
        files_left = [d for d in (own.run, own.data, config.cluster_dir) if d.exists()]
        host_after = _comparable(HostSnapshot.take(), own.run, tmp_path)
    finally:
        if up.poll() is None:
            up.kill()
            up.wait(timeout=10)
        KindProvider(config, env={"DOCKER_HOST": own.host}).delete()  # only if `up` left a part
    assert up.returncode == 130, stderr
    assert "Traceback" not in stderr
    assert [line for line in stderr.splitlines() if line.startswith("error:")] == [
        "error: interrupted (Ctrl-C); cleaned up what was half made"
    ]
    assert daemon_left is None
    assert files_left == []
    assert host_after == _comparable(before, own.run, tmp_path)
