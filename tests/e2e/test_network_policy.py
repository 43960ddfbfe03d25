"""The platform's NetworkPolicies, enforced on real pods (k8s/platform/networkpolicies.yaml).

Probe pods with the platform's role labels open TCP connections to the platform's
Services from inside the cluster, through ``exec``. Enforcement is eventually consistent
by design: an enforcer programs a pod once it has seen it (kube-router on the local
provider, kindnet's policy controller on kind). So each probe pod first waits until the
flow the policies deny is refused, and then, at that same moment, a flow they allow
from the same pod must connect. Without an enforcer the first wait times out; with a
policy that denies too much the second check fails.

These tests create pods and a namespace with the host's kubeconfig, so they carry the
``from_host`` marker: the in-cluster runner (least privilege) deselects them.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes import client as k8s_client

from testing.polling import Backoff, wait_for_condition
from tests.e2e import pods

PLATFORM = "ktp-platform"
#: Service -> port, as k8s/platform serves them.
POSTGRES = ("postgres", 5432)
MINIO = ("minio", 9000)
DASHBOARD = ("dashboard", 8080)
#: Resolve, connect, and print one word: ``open``, ``refused``, or ``nodns`` when the
#: name does not resolve (so a refusal always means DNS worked and the connection did
#: not). The socket timeout bounds one attempt against a policy that drops packets.
PROBE = (
    "import socket, sys\n"
    "try:\n"
    "    address = socket.getaddrinfo(sys.argv[1], int(sys.argv[2]), socket.AF_INET)[0][4]\n"
    "except OSError:\n"
    "    sys.exit(print('nodns'))\n"
    "try:\n"
    "    socket.create_connection(address, timeout=3).close()\n"
    "    print('open')\n"
    "except OSError:\n"
    "    print('refused')\n"
)
ENFORCE_TIMEOUT_S = 90.0

pytestmark = pytest.mark.from_host


def _platform_image(core: Any) -> str:
    """The demo image the dashboard runs: present on the node whichever image source."""
    pods = core.list_namespaced_pod(PLATFORM, label_selector="ktp.dev/role=dashboard").items
    if not pods:
        raise AssertionError(f"no dashboard pod in {PLATFORM}: deploy the platform first")
    return str(pods[0].spec.containers[0].image)


def _probe_pod(name: str, image: str, role: str | None) -> dict[str, Any]:
    labels = {"app.kubernetes.io/part-of": "k8s-test-platform-e2e"}
    if role is not None:
        labels["ktp.dev/role"] = role
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": labels},
        "spec": {
            "restartPolicy": "Never",
            "automountServiceAccountToken": False,
            "terminationGracePeriodSeconds": 0,
            "securityContext": {
                "runAsNonRoot": True,
                "runAsUser": 10001,
                "seccompProfile": {"type": "RuntimeDefault"},
            },
            "containers": [
                {
                    "name": "probe",
                    "image": image,
                    "imagePullPolicy": "Never",
                    # Stays up, doing nothing, until the test deletes it.
                    "command": ["python", "-c", "import signal; signal.pause()"],
                    "securityContext": {
                        "allowPrivilegeEscalation": False,
                        "readOnlyRootFilesystem": True,
                        "capabilities": {"drop": ["ALL"]},
                    },
                    "resources": {"limits": {"cpu": "200m", "memory": "64Mi"}},
                }
            ],
        },
    }


class Prober:
    """Probe pods in one namespace, removed on exit."""

    def __init__(self, core: Any, namespace: str, image: str) -> None:
        self.core = core
        self.namespace = namespace
        self.image = image
        self.started: list[str] = []

    def start(self, role: str | None) -> str:
        name = f"netprobe-{role or 'unlabelled'}-{uuid.uuid4().hex[:6]}"
        self.started.append(name)
        pods.start(self.core, self.namespace, _probe_pod(name, self.image, role))
        return name

    def connect(self, pod: str, target: tuple[str, int]) -> str:
        host, port = target
        if self.namespace != PLATFORM:
            host = f"{host}.{PLATFORM}.svc.cluster.local"
        return pods.run(self.core, self.namespace, pod, ["python", "-c", PROBE, host, str(port)])

    def wait_for(self, pod: str, target: tuple[str, int], outcome: str) -> None:
        """Until the enforcer has programmed ``pod``, the outcome may still change."""
        wait_for_condition(
            lambda: self.connect(pod, target) == outcome,
            timeout=ENFORCE_TIMEOUT_S,
            description=f"{pod} -> {target[0]}:{target[1]} to be {outcome}",
            backoff=Backoff(initial=0.5, factor=1.5, maximum=3.0),
        )

    def refused_then_open(
        self, pod: str, denied: tuple[str, int], allowed: tuple[str, int]
    ) -> tuple[str, str]:
        """Wait until ``denied`` is refused from ``pod``, then try both once more."""
        self.wait_for(pod, denied, "refused")
        return self.connect(pod, denied), self.connect(pod, allowed)

    def close(self) -> None:
        for name in self.started:
            self.core.delete_namespaced_pod(name, self.namespace, grace_period_seconds=0)


@pytest.fixture
def core(api_client: Any) -> k8s_client.CoreV1Api:
    return k8s_client.CoreV1Api(api_client)


@pytest.fixture
def platform_prober(core: k8s_client.CoreV1Api) -> Iterator[Prober]:
    prober = Prober(core, PLATFORM, _platform_image(core))
    yield prober
    prober.close()


@pytest.fixture
def outside_prober(core: k8s_client.CoreV1Api, namespace: str) -> Iterator[Prober]:
    """Probes from a namespace the platform's policies do not select."""
    prober = Prober(core, namespace, _platform_image(core))
    yield prober
    prober.close()


@pytest.mark.requirement("NET-001")
def test_demo_job_reaches_postgres_but_not_the_dashboard(platform_prober: Prober) -> None:
    pod = platform_prober.start("demo-job")
    assert platform_prober.refused_then_open(pod, denied=DASHBOARD, allowed=POSTGRES) == (
        "refused",
        "open",
    )


@pytest.mark.requirement("NET-001")
def test_unlabelled_platform_pod_reaches_nothing_but_dns(platform_prober: Prober) -> None:
    """Default deny: no egress to any platform server, while DNS (allowed for every
    pod) still resolves their names: each probe prints ``refused``, not ``nodns``."""
    pod = platform_prober.start(None)
    for target in (POSTGRES, MINIO):
        platform_prober.wait_for(pod, target, "refused")
    assert [platform_prober.connect(pod, t) for t in (POSTGRES, MINIO, DASHBOARD)] == [
        "refused",
        "refused",
        "refused",
    ]


@pytest.mark.requirement("NET-001")
def test_test_runner_reaches_every_platform_server(platform_prober: Prober) -> None:
    pod = platform_prober.start("test-runner")
    for target in (POSTGRES, MINIO, DASHBOARD):
        platform_prober.wait_for(pod, target, "open")
    assert [platform_prober.connect(pod, t) for t in (POSTGRES, MINIO, DASHBOARD)] == [
        "open",
        "open",
        "open",
    ]


@pytest.mark.requirement("NET-002")
def test_other_namespace_reaches_the_dashboard_but_not_the_databases(
    outside_prober: Prober,
) -> None:
    """Ingress: the probe's own namespace has no policy, so only the platform's
    ingress rules decide. The dashboard is the UI and takes anyone; PostgreSQL and MinIO
    take only the platform's clients."""
    pod = outside_prober.start(None)
    assert outside_prober.refused_then_open(pod, denied=POSTGRES, allowed=DASHBOARD) == (
        "refused",
        "open",
    )
    assert outside_prober.connect(pod, MINIO) == "refused"
