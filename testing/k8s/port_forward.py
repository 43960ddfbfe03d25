"""Port-forward to a pod or Service as a context manager, through the API server.

``with port_forward(api, ns, "svc/postgres", 5432) as port:`` binds a free port on
127.0.0.1 and forwards every connection made to it over its own port-forward
stream (``kubernetes.stream.portforward``). It returns only after the API server
accepted a port-forward to the target, raises with the reason when the target is
missing or not running, and on exit closes the listener and every stream it
opened, so nothing keeps running after the ``with`` block (prior art never left
its retry loop on success, or shelled out to kubectl). Each stream must connect
within :data:`CONNECT_TIMEOUT_S` (the client library's websocket has no timeout of
its own), and what goes wrong on a connection after the start (the pod's port
refuses, the API server drops the stream) is logged as it happens and added as a
note to an exception that leaves the ``with`` block.
"""

from __future__ import annotations

import contextlib
import json
import logging
import select
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from kubernetes import client as k8s_client
from kubernetes.client.exceptions import ApiException
from kubernetes.stream import portforward as k8s_portforward

from testing.k8s.client import clone
from testing.k8s.objects import K8sError
from testing.k8s.status import pod_ready, selector_string
from testing.polling import WaitTimeoutError, run_bounded

logger = logging.getLogger(__name__)

_BUFFER = 64 * 1024
#: How long one port-forward stream may take to connect to the API server.
CONNECT_TIMEOUT_S = 15.0


class PortForwardError(K8sError):
    """The target cannot be forwarded to; the message says why."""


#: The thread ``kubernetes.stream.portforward`` runs per stream (the library names it so).
PROXY_THREAD_PREFIX = "Kubernetes port forward proxy"


def _quiet_proxy_thread_errors(args: threading.ExceptHookArgs) -> None:
    """One log line, not a traceback, when the client library's proxy thread dies.

    That thread ends with an exception when the API server drops a stream it is still
    reading (a reset instead of a close), which can happen while a process exits; the
    traceback then comes out cut in half on stderr. Every other thread keeps the hook it
    had. Our side of such a stream sees a closed socket and records it (:attr:`errors`).
    """
    thread = args.thread
    if thread is not None and thread.name.startswith(PROXY_THREAD_PREFIX):
        logger.warning("%s ended: %s: %s", thread.name, args.exc_type.__name__, args.exc_value)
        return
    _previous_excepthook(args)


_previous_excepthook = threading.excepthook


@dataclass(frozen=True)
class Target:
    pod: str
    port: int
    via: str


def _read(call: Any, what: str, *args: Any, **kwargs: Any) -> dict[str, Any]:
    """GET as a plain mapping (the readings in :mod:`testing.k8s.status` take mappings)."""
    try:
        response = call(*args, **kwargs, _preload_content=False, _request_timeout=(10, 30))
    except ApiException as exc:
        if exc.status == 404:
            raise PortForwardError(f"{what} not found") from None
        raise PortForwardError(f"reading {what} failed: {exc.status} {exc.reason}") from None
    body: dict[str, Any] = json.loads(response.data)
    return body


def _check_running(pod: dict[str, Any], what: str) -> None:
    status = pod.get("status") or {}
    phase = status.get("phase")
    if pod["metadata"].get("deletionTimestamp"):
        raise PortForwardError(f"{what} is being deleted")
    if phase != "Running":
        detail = f"{status.get('reason') or ''} {status.get('message') or ''}".strip()
        raise PortForwardError(
            f"{what} is {phase}, not Running" + (f": {detail}" if detail else "")
        )


def _named_port(pod: dict[str, Any], name: str) -> int | None:
    for container in (pod.get("spec") or {}).get("containers") or []:
        for port in container.get("ports") or []:
            if port.get("name") == name:
                return int(port["containerPort"])
    return None


def resolve_target(
    api: k8s_client.ApiClient, namespace: str, pod_or_service: str, remote_port: int
) -> Target:
    """The pod and container port behind ``pod/NAME``, ``svc/NAME`` (or a bare pod name)."""
    core = k8s_client.CoreV1Api(api)
    kind, _, name = pod_or_service.rpartition("/")
    if kind in ("", "pod", "pods", "po"):
        what = f"pod {namespace}/{name}"
        _check_running(_read(core.read_namespaced_pod, what, name, namespace), what)
        return Target(name, remote_port, what)
    if kind not in ("svc", "service", "services"):
        raise PortForwardError(
            f"cannot port-forward to {pod_or_service!r}: use pod/NAME or svc/NAME"
        )
    what = f"service {namespace}/{name}"
    spec = _read(core.read_namespaced_service, what, name, namespace).get("spec") or {}
    ports = spec.get("ports") or []
    entry = next((p for p in ports if p.get("port") == remote_port), None)
    if entry is None:
        known = ", ".join(str(p.get("port")) for p in ports) or "none"
        raise PortForwardError(f"{what} has no port {remote_port} (ports: {known})")
    selector = spec.get("selector") or {}
    if not selector:
        raise PortForwardError(f"{what} has no selector, so no pod to forward to")
    pods = (
        _read(
            core.list_namespaced_pod,
            f"pods of {what}",
            namespace,
            label_selector=selector_string({"matchLabels": selector}),
        ).get("items")
        or []
    )
    ready = sorted(
        (p for p in pods if not p["metadata"].get("deletionTimestamp") and pod_ready(p)),
        key=lambda p: str(p["metadata"]["name"]),
    )
    if not ready:
        raise PortForwardError(f"{what} has no ready pod behind it ({len(pods)} selected)")
    pod = ready[0]
    pod_name = str(pod["metadata"]["name"])
    target = entry.get("targetPort", remote_port)
    if isinstance(target, str) and not target.isdigit():
        number = _named_port(pod, target)
        if number is None:
            raise PortForwardError(f"{what}: pod {pod_name} has no port named {target!r}")
        target = number
    return Target(pod_name, int(target), f"{what} (pod {pod_name})")


class _Forwarder:
    """A local listener whose every accepted connection gets its own port-forward stream."""

    def __init__(self, api: k8s_client.ApiClient, namespace: str, target: Target) -> None:
        # portforward() swaps the client's call_api while it connects: use a client of
        # our own so concurrent API calls of the test are never routed through it.
        self._core = k8s_client.CoreV1Api(clone(api))
        self._namespace = namespace
        self._target = target
        self._lock = threading.Lock()
        self._closed = threading.Event()
        self._sockets: list[Any] = []
        self._streams: list[Any] = []
        self._threads: list[threading.Thread] = []
        self.errors: list[str] = []
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(16)
        self.local_port: int = self._listener.getsockname()[1]

    def _connect(self) -> Any:
        with self._lock:  # one connect at a time on this client (see __init__)
            try:
                return k8s_portforward(
                    self._core.connect_get_namespaced_pod_portforward,
                    self._target.pod,
                    self._namespace,
                    ports=str(self._target.port),
                )
            except ApiException as exc:
                raise PortForwardError(
                    f"port-forward to {self._target.via} port {self._target.port} "
                    f"refused: {exc.reason}"
                ) from None

    def open_stream(self) -> Any:
        try:
            stream = run_bounded(
                self._connect,
                timeout=CONNECT_TIMEOUT_S,
                description=f"port-forward to {self._target.via}",
                release=_close_quietly,
            )
        except WaitTimeoutError:
            raise PortForwardError(
                f"port-forward to {self._target.via} port {self._target.port} did not "
                f"connect within {CONNECT_TIMEOUT_S:g}s (is the API server answering?)"
            ) from None
        self._streams.append(stream)
        return stream

    def _record(self, error: str) -> None:
        logger.warning("port-forward: %s", error)
        self.errors.append(error)

    def start(self) -> None:
        global _previous_excepthook  # noqa: PLW0603 - installed once, on first use
        if threading.excepthook is not _quiet_proxy_thread_errors:
            _previous_excepthook = threading.excepthook
            threading.excepthook = _quiet_proxy_thread_errors
        probe = self.open_stream()
        if not probe.connected:
            raise PortForwardError(f"port-forward to {self._target.via} closed at once")
        probe.close()
        self._spawn(self._accept_loop, "port-forward-accept")

    def _spawn(self, target: Any, name: str, *args: Any) -> None:
        thread = threading.Thread(target=target, args=args, name=name, daemon=True)
        self._threads.append(thread)
        thread.start()

    def _accept_loop(self) -> None:
        while not self._closed.is_set():
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            if self._closed.is_set():
                conn.close()
                return
            self._sockets.append(conn)
            self._spawn(self._pipe, "port-forward-conn", conn)

    def _pipe(self, conn: socket.socket) -> None:
        try:
            stream = self.open_stream()
        except PortForwardError as exc:
            self._record(str(exc))
            conn.close()
            return
        remote = stream.socket(self._target.port)
        remote.setblocking(True)
        self._sockets.append(remote)
        try:
            self._copy(conn, remote)
        finally:
            error = stream.error(self._target.port)
            if error:
                self._record(f"{self._target.via} port {self._target.port}: {error}")
            for sock in (conn, remote):
                with contextlib.suppress(OSError):
                    sock.close()
            stream.close()

    def _copy(self, conn: socket.socket, remote: Any) -> None:
        peers = {conn.fileno(): remote, remote.fileno(): conn}
        while not self._closed.is_set():
            try:
                readable, _, _ = select.select([conn, remote], [], [])
            except (OSError, ValueError):  # close() shut a socket under us: the forward is over
                return
            for sock in readable:
                try:
                    data = sock.recv(_BUFFER)
                    if not data:
                        return
                    peers[sock.fileno()].sendall(data)
                except OSError:  # either side went away: this connection is over
                    return

    def close(self) -> None:
        self._closed.set()
        # Closing a socket another thread is blocked in accept() on does not wake that
        # thread on Linux (and the port keeps listening); shutting it down does.
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)
        with contextlib.suppress(OSError):
            self._listener.close()
        for sock in list(self._sockets):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        for stream in list(self._streams):
            with contextlib.suppress(Exception):
                stream.close()
        for thread in self._threads:
            thread.join(timeout=5)


def _close_quietly(stream: Any) -> None:
    with contextlib.suppress(Exception):
        stream.close()


@contextlib.contextmanager
def port_forward(
    api: k8s_client.ApiClient, namespace: str, pod_or_service: str, remote_port: int
) -> Iterator[int]:
    """Forward a free local port to ``remote_port`` of ``pod/NAME`` or ``svc/NAME``.

    Yields the local port on 127.0.0.1. Raises :class:`PortForwardError` with the
    reason when the target does not exist, is not running, or the API server
    refuses the port-forward, or does not answer within :data:`CONNECT_TIMEOUT_S`.
    An exception raised inside the block carries, as a note, every error the
    forward met on its connections (a test's "connection reset" then says why).
    """
    target = resolve_target(api, namespace, pod_or_service, remote_port)
    forwarder = _Forwarder(api, namespace, target)
    try:
        forwarder.start()
        yield forwarder.local_port
    except BaseException as exc:
        if forwarder.errors:
            exc.add_note("port-forward errors: " + "; ".join(forwarder.errors))
        raise
    finally:
        forwarder.close()
