"""Diagnostics never raise when the API server is gone: they report what they could not read.

The API server here is a real loopback port that nothing listens on (no fake client):
every read fails in the transport, as it does when a cluster died under a test.
"""

from __future__ import annotations

import socket

from kubernetes import client as k8s_client

from testing.k8s import diagnostics


def _dead_api() -> k8s_client.ApiClient:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    configuration = k8s_client.Configuration()
    configuration.host = f"http://127.0.0.1:{port}"
    configuration.retries = 0
    return k8s_client.ApiClient(configuration)


def test_collect_reports_transport_errors_instead_of_raising() -> None:
    api = _dead_api()
    try:
        diag = diagnostics.collect(api, "gone-ns")
    finally:
        api.close()  # type: ignore[no-untyped-call]
    assert diag.logs == []
    assert diag.statuses == {}
    assert [error.split(":")[0] for error in diag.errors] == [
        "events",
        "Deployment list",
        "StatefulSet list",
        "DaemonSet list",
        "ReplicaSet list",
        "Job list",
        "pods",
    ]
    assert all("MaxRetryError" in error for error in diag.errors), diag.errors
    assert "--- could not collect" in diag.to_text()
