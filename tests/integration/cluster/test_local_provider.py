"""The ``local`` provider for real: a kubelet, containerd and runc on this host.

Needs root, like the provider itself (network namespaces, cgroups, mounts). It runs
when no other local cluster is up (``.ci/run`` runs it before the e2e cluster), builds
nothing but the node's images (cached), and takes about 20 s warm.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from kubernetes import client as k8s_client

from testing import images
from testing.cluster.base import ClusterConfig
from testing.cluster.host_state import HostSnapshot
from testing.cluster.local import CGROUP_ROOT, LocalProvider
from testing.k8s.client import api_client
from testing.polling import TerminalFailure, wait_for_condition

POD_UID = 1000


def _pod(image: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "whoami", "namespace": "default"},
        "spec": {
            "restartPolicy": "Never",
            "automountServiceAccountToken": False,
            "securityContext": {
                "runAsNonRoot": True,
                "runAsUser": POD_UID,
                "seccompProfile": {"type": "RuntimeDefault"},
            },
            "containers": [
                {
                    "name": "whoami",
                    "image": image,
                    "imagePullPolicy": "Never",
                    "command": ["/bin/busybox", "sh", "-c", "echo uid=$(/bin/busybox id -u)"],
                    "securityContext": {
                        "allowPrivilegeEscalation": False,
                        "readOnlyRootFilesystem": True,
                        "capabilities": {"drop": ["ALL"]},
                    },
                }
            ],
        },
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
    }


@pytest.mark.requirement("LOC-001", "LOC-002")
def test_real_pod_runs_and_down_restores_the_host(tmp_path: Path) -> None:
    before = HostSnapshot.take()
    provider = LocalProvider(ClusterConfig(name="ktp-loc-it", state_dir=tmp_path / "clusters"))
    try:
        kubeconfig = provider.create(wait_seconds=240)
        api = api_client(kubeconfig)
        core = k8s_client.CoreV1Api(api)
        core.create_namespaced_pod("default", _pod(images.reference("local-path-helper", "built")))

        def finished() -> Any:
            pod = core.read_namespaced_pod("whoami", "default")
            if pod.status.phase == "Failed":
                raise TerminalFailure(f"pod failed: {pod.status}")
            return pod if pod.status.phase == "Succeeded" else None

        pod = wait_for_condition(finished, timeout=120, description="pod whoami to succeed")
        assert core.read_namespaced_pod_log("whoami", "default").strip() == f"uid={POD_UID}"
        assert pod.status.pod_ip.startswith("10.244.0.")
        assert pod.spec.node_name == "ktp-local"
        api.close()
    finally:
        provider.delete()
    after = HostSnapshot.take()
    assert _comparable(after) == _comparable(before)
    assert not provider.config.cluster_dir.exists()
    assert not provider.run_dir.exists()
    assert not any(Path("/sys/fs/cgroup").glob(f"*/{CGROUP_ROOT}"))
