"""wait_for_api_ready: the readiness contract every provider ends ``create`` with.

The ready path against a real API server is proven by tests/integration/cluster
(kwok). Here the API server is a small local HTTP server because the states under
test (an etcd check failing, ``/readyz`` ok before the ``default`` service account
exists) cannot be produced on demand by a real control plane in a unit test.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from fake_kind import ApiState, fake_api, kubeconfig_for

from testing.cluster.base import ClusterError
from testing.cluster.readiness import ApiNotReadyError, wait_for_api_ready


def _write_kubeconfig(path: Path, server: str) -> Path:
    path.write_text(kubeconfig_for(server))
    return path


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def api() -> Iterator[tuple[ApiState, str]]:
    state = ApiState()
    with fake_api(state) as url:
        yield state, url


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


def test_failing_readyz_check_is_named(tmp_path: Path, api: tuple[ApiState, str]) -> None:
    state, url = api
    state.readyz = (500, "[+]ping ok\n[-]etcd failed: reason withheld\nreadyz check failed")
    with pytest.raises(ApiNotReadyError) as info:
        wait_for_api_ready(_write_kubeconfig(tmp_path / "kc", url), timeout=0.8)
    assert "HTTP 500" in str(info.value)
    assert "[-]etcd failed" in str(info.value)
    assert "[+]ping" not in str(info.value)


def test_readyz_ok_without_default_service_account_is_not_ready(
    tmp_path: Path, api: tuple[ApiState, str]
) -> None:
    state, url = api
    state.service_account = False
    with pytest.raises(ApiNotReadyError, match="ServiceAccount default/default does not exist"):
        wait_for_api_ready(_write_kubeconfig(tmp_path / "kc", url), timeout=0.8)
    assert "/api/v1/namespaces/default/serviceaccounts/default" in state.seen


def test_ready_server_returns(tmp_path: Path, api: tuple[ApiState, str]) -> None:
    state, url = api
    wait_for_api_ready(_write_kubeconfig(tmp_path / "kc", url), timeout=5)
    assert state.seen[0].startswith("/readyz")
    assert state.seen[-1] == "/api/v1/namespaces/default/serviceaccounts/default"
