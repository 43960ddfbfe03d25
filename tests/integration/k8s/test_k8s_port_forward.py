"""Port-forward through the real API server to a simulated pod.

kwok serves the pod's port-forward from its ``PortForward`` resource by dialing a
local address: here the real local PostgreSQL, so bytes really travel client ->
API server -> kwok -> PostgreSQL and a real query answers.
"""

from __future__ import annotations

import dataclasses
import socket
import threading
from typing import Any

import pytest
from k8s_support import pod_manifest
from kubernetes import client as k8s
from kubernetes.client import ApiClient

from testing.k8s.apply import apply_objects
from testing.k8s.objects import ObjectRef
from testing.k8s.port_forward import PortForwardError, port_forward
from testing.k8s.wait import wait_for_deletion, wait_for_pod
from testing.services import postgres as pg
from testing.services.endpoints import PostgresEndpoint


def forward_resource(pod: str, port: int, target: int) -> dict[str, Any]:
    return {
        "apiVersion": "kwok.x-k8s.io/v1alpha1",
        "kind": "PortForward",
        "metadata": {"name": pod},
        "spec": {
            "forwards": [{"ports": [port], "target": {"port": target, "address": "127.0.0.1"}}]
        },
    }


def service(name: str, port: int) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name},
        "spec": {"selector": {"app": name}, "ports": [{"port": port, "targetPort": port}]},
    }


def query(endpoint: PostgresEndpoint, local_port: int) -> int:
    via = dataclasses.replace(endpoint, host="127.0.0.1", port=local_port)
    with pg.connect(via) as conn:
        row = conn.execute("SELECT 6 * 7").fetchone()
    assert row is not None
    return int(row[0])


def refusal(api: ApiClient, namespace: str, target: str, port: int) -> str:
    with pytest.raises(PortForwardError) as caught, port_forward(api, namespace, target, port):
        pass
    return str(caught.value)


def forwarder_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith("port-forward")]


@pytest.fixture
def pg_pod(k8s_client: ApiClient, namespace: str, postgres_admin: PostgresEndpoint) -> str:
    apply_objects(
        k8s_client,
        [
            forward_resource("pgproxy", 5432, postgres_admin.port),
            pod_manifest("pgproxy", ports=(5432,)),
            service("pgproxy", 5432),
        ],
        namespace=namespace,
    )
    wait_for_pod(k8s_client, "pgproxy", namespace, timeout=60)
    return "pgproxy"


@pytest.mark.requirement("K8S-008")
def test_queries_reach_postgres_through_a_pod_and_a_service(
    k8s_client: ApiClient, namespace: str, pg_pod: str, postgres_admin: PostgresEndpoint
) -> None:
    with port_forward(k8s_client, namespace, f"pod/{pg_pod}", 5432) as local:
        assert query(postgres_admin, local) == 42
        assert query(postgres_admin, local) == 42  # every connection gets its own stream
    with port_forward(k8s_client, namespace, f"svc/{pg_pod}", 5432) as via_service:
        assert query(postgres_admin, via_service) == 42
    with (
        pytest.raises(ConnectionRefusedError),
        socket.create_connection(("127.0.0.1", via_service), timeout=5),
    ):
        pass
    assert forwarder_threads() == []


@pytest.mark.requirement("K8S-008")
def test_a_missing_or_not_running_target_raises_the_reason(
    k8s_client: ApiClient, namespace: str, pg_pod: str
) -> None:
    assert refusal(k8s_client, namespace, "pod/ghost", 5432) == f"pod {namespace}/ghost not found"
    apply_objects(
        k8s_client,
        [pod_manifest("stuck", nodeSelector={"ktp.test/no-such-node": "true"})],
        namespace=namespace,
    )
    assert refusal(k8s_client, namespace, "pod/stuck", 5432) == (
        f"pod {namespace}/stuck is Pending, not Running"
    )
    assert refusal(k8s_client, namespace, f"svc/{pg_pod}", 9999) == (
        f"service {namespace}/{pg_pod} has no port 9999 (ports: 5432)"
    )
    k8s.CoreV1Api(k8s_client).delete_namespaced_pod(pg_pod, namespace, grace_period_seconds=0)
    wait_for_deletion(k8s_client, ObjectRef("v1", "Pod", pg_pod, namespace), timeout=60)
    assert refusal(k8s_client, namespace, f"svc/{pg_pod}", 5432) == (
        f"service {namespace}/{pg_pod} has no ready pod behind it (0 selected)"
    )
    assert forwarder_threads() == []


@pytest.mark.requirement("K8S-008")
def test_an_error_on_a_connection_is_shown_with_the_failure_it_caused(
    k8s_client: ApiClient, namespace: str
) -> None:
    """The pod's port answers when the forward starts, then stops listening: kwok's dial
    for the next connection is refused, and the test's own failure then says why."""
    listener = socket.create_server(("127.0.0.1", 0))
    target = int(listener.getsockname()[1])
    apply_objects(
        k8s_client,
        [forward_resource("deadend", 8080, target), pod_manifest("deadend", ports=(8080,))],
        namespace=namespace,
    )
    wait_for_pod(k8s_client, "deadend", namespace, timeout=60)

    def first_byte() -> bytes:
        """What a client of the forward reads; an EOF before any byte is its failure."""
        with port_forward(k8s_client, namespace, "pod/deadend", 8080) as local:
            listener.close()  # from now on nothing listens behind the pod's port
            with socket.create_connection(("127.0.0.1", local), timeout=10) as conn:
                conn.sendall(b"GET / HTTP/1.0\r\n\r\n")
                data = conn.recv(1)
                if data == b"":
                    raise ConnectionError("closed before any byte")
                return data

    with pytest.raises(ConnectionError, match="closed before any byte") as caught:
        first_byte()
    notes = getattr(caught.value, "__notes__", [])
    assert len(notes) == 1
    assert notes[0].startswith(f"port-forward errors: pod {namespace}/deadend port 8080: ")
    assert f"127.0.0.1:{target}" in notes[0]
    assert forwarder_threads() == []
