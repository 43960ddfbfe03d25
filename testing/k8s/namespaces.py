"""Per-test namespaces: unique, labelled with the run id, really deleted.

Names are ``<prefix>-<worker>-<counter>-<random>-<test slug>`` cut to 63 characters:
the worker id and counter make them unique within a run under pytest-xdist, the
random part across runs that share a cluster, and the slug tells a human which
test made it. Every namespace carries the run id as a label, so the end-of-run
leak check (and a cleanup after Ctrl-C) finds exactly this run's namespaces.
"""

from __future__ import annotations

import contextlib
import itertools
import re
import secrets
from collections.abc import Mapping
from typing import Any

from kubernetes import client as k8s_client
from kubernetes.client.exceptions import ApiException

from testing.k8s import status
from testing.k8s.objects import K8sError
from testing.k8s.watching import Source, State, watch_until
from testing.polling import WaitTimeoutError

RUN_LABEL = "k8s-test-platform/run-id"
WORKER_LABEL = "k8s-test-platform/worker"
MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
MANAGED_BY = "k8s-test-platform"
TEST_ANNOTATION = "k8s-test-platform/test"
PREFIX = "ktp"
_MAX = 63
_NOT_DNS = re.compile(r"[^a-z0-9-]+")


class NamespaceError(K8sError):
    """A namespace could not be created or did not go away in time."""


def slug(text: str, limit: int = 30) -> str:
    """``text`` as a DNS-1123 label fragment (lowercase, digits, '-')."""
    cleaned = _NOT_DNS.sub("-", text.lower()).strip("-")
    return re.sub("-{2,}", "-", cleaned)[:limit].strip("-")


def new_run_id() -> str:
    return secrets.token_hex(4)


class NamespaceNamer:
    """Unique names for one process (one xdist worker) of one run."""

    def __init__(self, run_id: str, worker: str = "main") -> None:
        self.run_id = run_id
        self.worker = slug(worker, 10) or "main"
        self._counter = itertools.count(1)

    def next_name(self, hint: str = "") -> str:
        base = f"{PREFIX}-{self.worker}-{next(self._counter)}-{secrets.token_hex(3)}"
        tail = slug(hint)
        name = f"{base}-{tail}" if tail else base
        return name[:_MAX].rstrip("-")

    def labels(self) -> dict[str, str]:
        return {RUN_LABEL: self.run_id, WORKER_LABEL: self.worker, MANAGED_BY_LABEL: MANAGED_BY}


def create_namespace(
    api: k8s_client.ApiClient,
    name: str,
    *,
    labels: Mapping[str, str],
    annotations: Mapping[str, str] | None = None,
) -> str:
    """Create namespace ``name`` (a name collision is an error, never a reuse)."""
    body = k8s_client.V1Namespace(
        metadata=k8s_client.V1ObjectMeta(
            name=name, labels=dict(labels), annotations=dict(annotations or {})
        )
    )
    try:
        k8s_client.CoreV1Api(api).create_namespace(body, _request_timeout=(10, 30))
    except ApiException as exc:
        raise NamespaceError(
            f"creating namespace {name} failed: {exc.status} {exc.reason}"
        ) from None
    return name


def begin_deletion(
    api: k8s_client.ApiClient, names: list[str], *, force_pods: bool = False
) -> None:
    """Ask for ``names`` to be deleted, without waiting (a name already gone is fine).

    ``force_pods`` also deletes the namespaces' pods with a zero grace period once no
    new pod can be created there: for simulated pods (kwok), which have no container
    to stop, it saves the namespace controller a second pass (about 5 s per namespace).
    """
    core = k8s_client.CoreV1Api(api)
    for name in names:
        try:
            core.delete_namespace(name, propagation_policy="Background", _request_timeout=(10, 30))
        except ApiException as exc:
            if exc.status != 404:
                raise NamespaceError(
                    f"deleting namespace {name} failed: {exc.status} {exc.reason}"
                ) from None
    if force_pods:
        for name in names:
            with contextlib.suppress(ApiException):  # the namespace may be gone already
                core.delete_collection_namespaced_pod(
                    name, grace_period_seconds=0, _request_timeout=(10, 30)
                )


def await_deletion(
    api: k8s_client.ApiClient,
    names: list[str],
    *,
    timeout: float,
    label_selector: str | None = None,
) -> list[str]:
    """Watch until none of ``names`` exists, at most ``timeout`` seconds for all of them
    together; return those still there (empty: all gone). ``label_selector`` narrows the
    watch to namespaces that carry it (the run's label), which every name must."""
    if not names:
        return []
    wanted = set(names)
    kwargs: dict[str, Any] = {"label_selector": label_selector} if label_selector else {}
    source = Source("ns", k8s_client.CoreV1Api(api).list_namespace, kwargs)

    def all_gone(state: State) -> status.Verdict:
        left = wanted & state["ns"].keys()
        return status.Verdict(not left, f"{len(left)} of {len(wanted)} still there")

    try:
        watch_until([source], all_gone, timeout=timeout, description="namespaces to be deleted")
    except WaitTimeoutError:
        listed = k8s_client.CoreV1Api(api).list_namespace(
            label_selector=label_selector or "", _request_timeout=(10, 30)
        )
        present = {str(ns.metadata.name) for ns in listed.items if ns.metadata is not None}
        return sorted(wanted & present)
    return []


def why_not_gone(api: k8s_client.ApiClient, name: str) -> str:
    """What holds namespace ``name``: its finalizers and the controller's conditions."""
    try:
        ns = k8s_client.CoreV1Api(api).read_namespace(name, _request_timeout=(10, 30))
    except ApiException as exc:
        return "gone" if exc.status == 404 else f"unreadable ({exc.status} {exc.reason})"
    held: list[str] = []
    if ns.metadata is not None:
        held += ns.metadata.finalizers or []
    if ns.spec is not None:
        held += ns.spec.finalizers or []
    found = (ns.status.conditions if ns.status is not None else None) or []
    conditions = [f"{c.type}: {c.message}" for c in found if c.status == "True" and c.message]
    parts = [f"finalizers {', '.join(held)}" if held else "no finalizer", *conditions]
    return "; ".join(parts)


def delete_namespaces(
    api: k8s_client.ApiClient, names: list[str], *, timeout: float, force_pods: bool = False
) -> None:
    """Delete ``names`` and wait, at most ``timeout`` seconds in all, until every one is
    gone; :class:`NamespaceError` names any that is not."""
    begin_deletion(api, names, force_pods=force_pods)
    left = await_deletion(api, names, timeout=timeout)
    if left:
        raise NamespaceError(
            f"namespace(s) still there after {timeout:.0f}s: "
            + "; ".join(f"{name} ({why_not_gone(api, name)})" for name in left)
        )


def namespaces_of_run(api: k8s_client.ApiClient, run_id: str) -> list[str]:
    """Names of the namespaces labelled with ``run_id`` that still exist."""
    return sorted(tests_of_run(api, run_id))


def tests_of_run(api: k8s_client.ApiClient, run_id: str) -> dict[str, str]:
    """Namespace -> the test that made it (its annotation; "" if none), for every
    namespace labelled with ``run_id`` that still exists."""
    listed = k8s_client.CoreV1Api(api).list_namespace(
        label_selector=f"{RUN_LABEL}={run_id}", _request_timeout=(10, 30)
    )
    return {
        str(ns.metadata.name): (ns.metadata.annotations or {}).get(TEST_ANNOTATION, "")
        for ns in listed.items
        if ns.metadata is not None
    }
