"""Several watches merged into one state, read until a verdict says done or never.

Each source (pods of a namespace, one Deployment, ...) is listed once and then
watched from the list's ``resourceVersion`` in a thread of its own; events land on
one queue, and the waiting thread re-reads the merged state after every batch. So a
wait returns within one event's latency of the condition becoming true, instead of
up to one poll interval later, and a pod that fails ends the wait at once.

Every watch carries ``timeoutSeconds`` bounded by the remaining deadline (the server
closes it in time) and a client read timeout; a ``410 Gone`` (history compacted)
re-lists instead of failing. Nothing here sleeps.
"""

from __future__ import annotations

import contextlib
import json
import math
import queue
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from kubernetes import watch as k8s_watch
from kubernetes.client.exceptions import ApiException

from testing.k8s.objects import K8sError
from testing.k8s.status import Failure, Obj, Verdict
from testing.polling import ConditionFailedError, WaitTimeoutError, wait_for_condition

#: Consecutive watch errors (other than 410) tolerated before the wait fails.
MAX_STREAM_ERRORS = 3
#: How long a finished wait gives its closed watch threads to end.
CLOSE_TIMEOUT_S = 5.0

State = dict[str, dict[str, Obj]]


class WaitFailedError(ConditionFailedError):
    """A watched object reached a state it cannot recover from.

    ``failure`` names the object, the reason and the message, e.g.
    ``pod ns/web-1 container app: CrashLoopBackOff: back-off 10s restarting ...``.
    """

    def __init__(self, description: str, failure: Failure, elapsed: float, events: int) -> None:
        self.failure = failure
        super().__init__(description, str(failure), elapsed, events)


class WatchError(K8sError):
    """A watch could not be kept open (the API server refused or went away)."""


@dataclass(frozen=True)
class Source:
    """One list+watch: ``func`` is a generated ``list_*`` method, ``kwargs`` its arguments."""

    key: str
    func: Callable[..., Any]
    kwargs: Mapping[str, Any] = field(default_factory=dict)


class _Stream(threading.Thread):
    def __init__(self, source: Source, deadline: float, out: queue.Queue[tuple[str, str, Any]]):
        super().__init__(name=f"watch-{source.key}", daemon=True)
        self.source = source
        self.deadline = deadline
        self.out = out
        self._closed = threading.Event()
        self._watch: Any = None

    def close(self) -> None:
        """Stop now: mark closed and shut the open response so a blocked read returns."""
        self._closed.set()
        current = self._watch
        if current is not None:
            current.stop()
            response = getattr(current, "_resp", None)  # the open HTTP response, if any
            if response is not None:
                shutdown = getattr(response, "shutdown", None) or response.close
                with contextlib.suppress(Exception):  # best effort on a closing response
                    shutdown()

    def _remaining(self) -> float:
        return self.deadline - time.monotonic()

    def _list(self) -> str:
        remaining = self._remaining()
        response = self.source.func(
            **self.source.kwargs, _preload_content=False, _request_timeout=(10, remaining + 5)
        )
        body = json.loads(response.data)
        self.out.put(("SYNC", self.source.key, body.get("items") or []))
        return str(body["metadata"]["resourceVersion"])

    def _watch_from(self, version: str) -> str:
        remaining = self._remaining()
        self._watch = k8s_watch.Watch()  # type: ignore[no-untyped-call]
        for event in self._watch.stream(
            self.source.func,
            **self.source.kwargs,
            resource_version=version,
            allow_watch_bookmarks=True,
            timeout_seconds=max(1, math.ceil(remaining)),
            _request_timeout=(10, remaining + 5),
        ):
            if self._closed.is_set():
                break
            raw = event["raw_object"]
            version = str((raw.get("metadata") or {}).get("resourceVersion") or version)
            if event["type"] != "BOOKMARK":
                self.out.put((str(event["type"]), self.source.key, raw))
        return version

    def run(self) -> None:
        version: str | None = None
        errors = 0
        while not self._closed.is_set() and self._remaining() > 0:
            try:
                if version is None:
                    version = self._list()
                version = self._watch_from(version)
                errors = 0
            except ApiException as exc:
                if self._closed.is_set():
                    return
                if exc.status == 410:  # history compacted: start over from a fresh list
                    version = None
                    continue
                errors += 1
                if errors >= MAX_STREAM_ERRORS:
                    self.out.put(("FAIL", self.source.key, exc))
                    return
            except Exception as exc:
                if self._closed.is_set():
                    return
                errors += 1
                if errors >= MAX_STREAM_ERRORS:
                    self.out.put(("FAIL", self.source.key, exc))
                    return


def _apply_event(state: State, kind: str, key: str, payload: Any) -> None:
    bucket = state[key]
    if kind == "SYNC":
        bucket.clear()
        for item in payload:
            bucket[str(item["metadata"]["name"])] = item
        return
    name = str(payload["metadata"]["name"])
    if kind == "DELETED":
        bucket.pop(name, None)
    else:
        bucket[name] = payload


def _drain(
    first: tuple[str, str, Any],
    events: queue.Queue[tuple[str, str, Any]],
    state: State,
    synced: set[str],
    description: str,
) -> int:
    """Fold ``first`` and every event already queued into ``state``; return how many."""
    count = 0
    item: tuple[str, str, Any] | None = first
    while item is not None:
        kind, key, payload = item
        count += 1
        if kind == "FAIL":
            raise WatchError(f"{description}: watching {key} failed: {payload}")
        _apply_event(state, kind, key, payload)
        if kind == "SYNC":
            synced.add(key)
        try:
            item = events.get_nowait()
        except queue.Empty:
            item = None
    return count


def _close_all(streams: list[_Stream]) -> None:
    """Close every stream and see each thread end (within :data:`CLOSE_TIMEOUT_S`).

    A stream whose watch request was still being sent when it was closed has no
    response to shut yet; it is closed again once it has one. A thread left blocked in
    a TLS read when a short-lived CLI's interpreter exits can abort the process (exit
    134 after a successful deploy).
    """

    def all_ended() -> bool:
        alive = [stream for stream in streams if stream.is_alive()]
        for stream in alive:
            stream.close()
        return not alive

    with contextlib.suppress(WaitTimeoutError):  # daemon threads: never worth a failure
        wait_for_condition(
            all_ended,
            timeout=CLOSE_TIMEOUT_S,
            description="watch threads to end",
            interval=0.02,
            may_overrun_deadline=True,
        )


def watch_until(
    sources: list[Source],
    verdict: Callable[[State], Verdict | Failure],
    *,
    timeout: float,
    description: str,
) -> State:
    """Merge ``sources`` into one state and return it once ``verdict`` says done.

    Raises :class:`WaitFailedError` when the verdict is a :class:`Failure`, and
    :class:`~testing.polling.WaitTimeoutError` (with the last progress) at the deadline.
    """
    if timeout <= 0:
        raise ValueError(f"timeout must be positive, got {timeout!r}")
    start = time.monotonic()
    deadline = start + timeout
    events: queue.Queue[tuple[str, str, Any]] = queue.Queue()
    state: State = {source.key: {} for source in sources}
    synced: set[str] = set()
    streams = [_Stream(source, deadline, events) for source in sources]
    progress = "no list answered yet"
    count = 0
    try:
        for stream in streams:
            stream.start()
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise WaitTimeoutError(
                    description, timeout, time.monotonic() - start, count, last_value=progress
                )
            try:
                first = events.get(timeout=remaining)
            except queue.Empty:
                continue
            count += _drain(first, events, state, synced, description)
            if len(synced) < len(sources):
                continue
            result = verdict(state)
            if isinstance(result, Failure):
                raise WaitFailedError(description, result, time.monotonic() - start, count)
            progress = result.progress
            if result.done:
                return state
    finally:
        _close_all(streams)
