"""A port-forward stream that cannot connect ends in one error, in bounded time.

The "API server" here is a real TCP listener on loopback that accepts the
connection and never answers the websocket handshake: the way a hung or
overloaded API server looks to a client. Without a connect timeout the client
library would wait on it forever.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest
from kubernetes import client as k8s_client

from testing.k8s import port_forward as pf


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A listener that accepts and then says nothing; closed with every connection."""
    listener = socket.create_server(("127.0.0.1", 0))
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            accepted.append(conn)

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        stop.set()
        listener.shutdown(socket.SHUT_RDWR)
        listener.close()
        for conn in accepted:
            conn.close()
        thread.join(timeout=5)


def forwarder_to(port: int) -> pf._Forwarder:
    configuration = k8s_client.Configuration()
    configuration.host = f"http://127.0.0.1:{port}"
    api = k8s_client.ApiClient(configuration)
    return pf._Forwarder(api, "default", pf.Target("web-0", 8080, "pod default/web-0"))


@pytest.mark.requirement("K8S-008")
def test_a_stream_that_never_connects_is_one_error_line(
    silent_server: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pf, "CONNECT_TIMEOUT_S", 0.3)
    forwarder = forwarder_to(silent_server)
    try:
        with pytest.raises(pf.PortForwardError) as caught:
            forwarder.start()
    finally:
        forwarder.close()
    assert str(caught.value) == (
        "port-forward to pod default/web-0 port 8080 did not connect within 0.3s "
        "(is the API server answering?)"
    )


def test_a_refused_api_server_is_the_refusal_not_a_timeout() -> None:
    with socket.create_server(("127.0.0.1", 0)) as probe:
        port = probe.getsockname()[1]  # closed again at once: nothing listens there
    forwarder = forwarder_to(port)
    try:
        with pytest.raises(pf.PortForwardError, match=r"refused: .*Connection refused"):
            forwarder.start()
    finally:
        forwarder.close()


@pytest.mark.requirement("K8S-009")
def test_a_dying_client_proxy_thread_is_one_log_line_and_other_threads_keep_their_hook(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    seen: list[str] = []
    monkeypatch.setattr(threading, "excepthook", lambda args: seen.append(args.thread.name))
    monkeypatch.setattr(pf, "_previous_excepthook", pf._previous_excepthook)

    def refused(self: object) -> object:
        raise pf.PortForwardError("refused")

    # The hook goes in when a forward starts, before its first stream is opened.
    monkeypatch.setattr(pf._Forwarder, "open_stream", refused)
    forwarder = pf._Forwarder(
        k8s_client.ApiClient(), "ns", pf.Target(pod="p", port=8080, via="pod/p")
    )
    with pytest.raises(pf.PortForwardError):
        forwarder.start()
    forwarder.close()
    assert threading.excepthook is pf._quiet_proxy_thread_errors

    def boom() -> None:
        raise ConnectionResetError("reset by peer")

    for name in (f"{pf.PROXY_THREAD_PREFIX}: 8080", "someone-else"):
        thread = threading.Thread(target=boom, name=name)
        thread.start()
        thread.join()
    assert seen == ["someone-else"]
    (record,) = [r for r in caplog.records if r.name == pf.__name__]
    assert record.getMessage() == (
        f"{pf.PROXY_THREAD_PREFIX}: 8080 ended: ConnectionResetError: reset by peer"
    )
