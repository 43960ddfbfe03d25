"""wait_for_api_ready: the readiness contract every provider ends ``create`` with.

The ready path against a real API server is proven by tests/integration/cluster
(kwok). Here the API server is a small local HTTP server because the states under
test (an etcd check failing, ``/readyz`` ok before the ``default`` service account
exists) cannot be produced on demand by a real control plane in a unit test.
"""

from __future__ import annotations

import http.server
import json
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from testing.cluster.base import ClusterError
from testing.cluster.readiness import ApiNotReadyError, wait_for_api_ready


def _write_kubeconfig(path: Path, server: str) -> Path:
    path.write_text(
        json.dumps(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "c", "cluster": {"server": server}}],
                "users": [{"name": "u", "user": {"token": "t"}}],
                "contexts": [{"name": "ctx", "context": {"cluster": "c", "user": "u"}}],
                "current-context": "ctx",
            }
        )
    )
    return path


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class _Api:
    """What the local server answers: readyz status/body and whether the SA exists."""

    def __init__(self) -> None:
        self.readyz = (200, "ok")
        self.service_account = True
        self.seen: list[str] = []


@pytest.fixture
def api() -> Iterator[tuple[_Api, str]]:
    state = _Api()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            state.seen.append(self.path)
            if self.path.startswith("/readyz"):
                status, body = state.readyz
                self._answer(status, "text/plain", body)
            elif self.path == "/api/v1/namespaces/default/serviceaccounts/default":
                if state.service_account:
                    sa = {
                        "apiVersion": "v1",
                        "kind": "ServiceAccount",
                        "metadata": {"name": "default", "namespace": "default"},
                    }
                    self._answer(200, "application/json", json.dumps(sa))
                else:
                    self._answer(404, "application/json", json.dumps({"kind": "Status"}))
            else:
                self._answer(404, "text/plain", "not found")

        def _answer(self, status: int, content_type: str, body: str) -> None:
            data = body.encode()
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: object) -> None:
            del format, args

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_missing_kubeconfig_is_one_actionable_line(tmp_path: Path) -> None:
    with pytest.raises(ApiNotReadyError) as info:
        wait_for_api_ready(tmp_path / "nope", timeout=1)
    assert "does not exist" in str(info.value)
    assert "\n" not in str(info.value)
    assert isinstance(info.value, ClusterError)


def test_unknown_context_is_reported(tmp_path: Path) -> None:
    kubeconfig = _write_kubeconfig(tmp_path / "kc", "http://127.0.0.1:1")
    with pytest.raises(ApiNotReadyError, match="cannot be used"):
        wait_for_api_ready(kubeconfig, timeout=1, context="no-such-context")


def test_nothing_listening_times_out_naming_the_refusal(tmp_path: Path) -> None:
    port = _free_port()
    kubeconfig = _write_kubeconfig(tmp_path / "kc", f"http://127.0.0.1:{port}")
    with pytest.raises(ApiNotReadyError) as info:
        wait_for_api_ready(kubeconfig, timeout=0.8)
    message = str(info.value)
    assert f"127.0.0.1:{port}" in message
    assert "refused" in message.lower()
    assert "\n" not in message


def test_failing_readyz_check_is_named(tmp_path: Path, api: tuple[_Api, str]) -> None:
    state, url = api
    state.readyz = (500, "[+]ping ok\n[-]etcd failed: reason withheld\nreadyz check failed")
    with pytest.raises(ApiNotReadyError) as info:
        wait_for_api_ready(_write_kubeconfig(tmp_path / "kc", url), timeout=0.8)
    assert "HTTP 500" in str(info.value)
    assert "[-]etcd failed" in str(info.value)
    assert "[+]ping" not in str(info.value)


def test_readyz_ok_without_default_service_account_is_not_ready(
    tmp_path: Path, api: tuple[_Api, str]
) -> None:
    state, url = api
    state.service_account = False
    with pytest.raises(ApiNotReadyError, match="ServiceAccount default/default does not exist"):
        wait_for_api_ready(_write_kubeconfig(tmp_path / "kc", url), timeout=0.8)
    assert "/api/v1/namespaces/default/serviceaccounts/default" in state.seen


def test_ready_server_returns(tmp_path: Path, api: tuple[_Api, str]) -> None:
    state, url = api
    wait_for_api_ready(_write_kubeconfig(tmp_path / "kc", url), timeout=5)
    assert state.seen[0].startswith("/readyz")
    assert state.seen[-1] == "/api/v1/namespaces/default/serviceaccounts/default"
