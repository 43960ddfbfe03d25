"""What a failing test needs to explain itself: events, status and every container's logs.

Prior art collected logs only from pods that were not Running, so the container
that actually misbehaved (a Running sidecar, the server a failing client talked
to) was missing from the report. :func:`collect` takes the last lines of EVERY
container of every involved pod (and the previous run of restarted ones), the
namespace's events in time order, and the status and conditions of the objects.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import urllib3.exceptions
from kubernetes import client as k8s_client
from kubernetes.client.exceptions import ApiException

from testing.k8s.objects import ObjectRef
from testing.k8s.status import selector_matches

DEFAULT_TAIL_LINES = 50
_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")
#: What a read can raise when the API server refuses, is down or hangs (urllib3's
#: errors are not OSError subclasses).
_READ_ERRORS = (ApiException, urllib3.exceptions.HTTPError, OSError)

#: Kinds whose status and selected pods are reported; list method per kind.
_WORKLOADS = {
    "Deployment": ("AppsV1Api", "list_namespaced_deployment"),
    "StatefulSet": ("AppsV1Api", "list_namespaced_stateful_set"),
    "DaemonSet": ("AppsV1Api", "list_namespaced_daemon_set"),
    "ReplicaSet": ("AppsV1Api", "list_namespaced_replica_set"),
    "Job": ("BatchV1Api", "list_namespaced_job"),
}


@dataclass(frozen=True)
class ContainerLog:
    pod: str
    container: str
    text: str
    previous: bool = False


@dataclass
class Diagnostics:
    """Everything collected for one namespace; text for humans, files for CI artifacts."""

    namespace: str
    events: list[str] = field(default_factory=list)
    statuses: dict[str, str] = field(default_factory=dict)
    logs: list[ContainerLog] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def log_of(self, pod: str, container: str) -> str:
        """The current log tail of one container ('' if none was collected)."""
        for log in self.logs:
            if log.pod == pod and log.container == container and not log.previous:
                return log.text
        return ""

    def to_text(self) -> str:
        lines = [f"=== diagnostics for namespace {self.namespace}"]
        lines.append(f"--- events ({len(self.events)})")
        lines.extend(self.events or ["(none)"])
        for subject, text in self.statuses.items():
            lines.append(f"--- status of {subject}")
            lines.append(text)
        for log in self.logs:
            which = " (previous run)" if log.previous else ""
            lines.append(f"--- logs of pod {log.pod} container {log.container}{which}")
            lines.append(log.text.rstrip("\n") or "(empty)")
        if self.errors:
            lines.append("--- could not collect")
            lines.extend(self.errors)
        return "\n".join(lines) + "\n"

    def write(self, directory: Path) -> Path:
        """Write the report as ``<directory>/<namespace>.txt``; return the file."""
        directory.mkdir(parents=True, exist_ok=True)
        target = directory / f"{_UNSAFE.sub('_', self.namespace)}.txt"
        target.write_text(self.to_text(), encoding="utf-8")
        return target


def _event_line(event: Mapping[str, Any]) -> tuple[str, str]:
    when = str(
        event.get("lastTimestamp")
        or event.get("eventTime")
        or (event.get("metadata") or {}).get("creationTimestamp")
        or ""
    )
    involved = event.get("involvedObject") or {}
    count = event.get("count") or 1
    line = (
        f"{when} {event.get('type', '')} {event.get('reason', '')} "
        f"{involved.get('kind', '')}/{involved.get('name', '')} (x{count}): "
        f"{event.get('message', '')}"
    )
    return when, line


def _raw_list(method: Any, **kwargs: Any) -> list[dict[str, Any]]:
    response = method(**kwargs, _preload_content=False, _request_timeout=(10, 30))
    items: list[dict[str, Any]] = json.loads(response.data).get("items") or []
    return items


def _status_text(obj: Mapping[str, Any]) -> str:
    status = dict(obj.get("status") or {})
    return json.dumps(status, indent=2, sort_keys=True, default=str)


def _involved_pods(
    pods: list[dict[str, Any]], workloads: list[dict[str, Any]], objects: Sequence[ObjectRef] | None
) -> list[dict[str, Any]]:
    if objects is None:
        return pods
    wanted_pods = {ref.name for ref in objects if ref.kind == "Pod"}
    selectors = [(w.get("spec") or {}).get("selector") for w in workloads]
    return [
        pod
        for pod in pods
        if pod["metadata"]["name"] in wanted_pods
        or any(selector_matches(sel, pod["metadata"].get("labels") or {}) for sel in selectors)
    ]


def _container_logs(
    core: k8s_client.CoreV1Api, pod: Mapping[str, Any], tail_lines: int, diag: Diagnostics
) -> None:
    name = pod["metadata"]["name"]
    spec = pod.get("spec") or {}
    statuses = {
        cs["name"]: cs
        for cs in [
            *((pod.get("status") or {}).get("initContainerStatuses") or []),
            *((pod.get("status") or {}).get("containerStatuses") or []),
        ]
    }
    for container in [*(spec.get("initContainers") or []), *(spec.get("containers") or [])]:
        cname = container["name"]
        runs = [False]
        if int((statuses.get(cname) or {}).get("restartCount") or 0) > 0:
            runs.append(True)
        for previous in runs:
            try:
                text = core.read_namespaced_pod_log(
                    name,
                    diag.namespace,
                    container=cname,
                    tail_lines=tail_lines,
                    previous=previous,
                    _request_timeout=(10, 30),
                )
            except _READ_ERRORS as exc:
                diag.errors.append(
                    f"logs of {name}/{cname}{' (previous)' if previous else ''}: {_reason(exc)}"
                )
                continue
            diag.logs.append(ContainerLog(name, cname, str(text), previous))


def _reason(exc: BaseException) -> str:
    """``status reason: message`` of an API refusal, else the transport error in one line."""
    if isinstance(exc, ApiException):
        return f"{exc.status} {exc.reason}: {_api_message(exc)}"
    return " ".join(f"{type(exc).__name__}: {exc}".split())


def _api_message(exc: ApiException) -> str:
    try:
        return str(json.loads(exc.body or "{}").get("message", "")).strip()
    except (ValueError, AttributeError):
        return str(exc.body or "").strip()


def collect(
    api: k8s_client.ApiClient,
    namespace: str,
    *,
    objects: Sequence[ObjectRef] | None = None,
    tail_lines: int = DEFAULT_TAIL_LINES,
) -> Diagnostics:
    """Collect diagnostics for ``namespace`` (or only for ``objects`` and their pods).

    Never raises for what it cannot read: failures to collect are listed in
    ``errors`` so a report is still produced when the cluster is half broken.
    """
    diag = Diagnostics(namespace)
    core = k8s_client.CoreV1Api(api)
    try:
        events = _raw_list(core.list_namespaced_event, namespace=namespace)
        diag.events = [line for _, line in sorted(_event_line(e) for e in events)]
    except _READ_ERRORS as exc:
        diag.errors.append(f"events: {_reason(exc)}")
    wanted_kinds = None if objects is None else {ref.kind for ref in objects}
    wanted_names = None if objects is None else {(ref.kind, ref.name) for ref in objects}
    workloads: list[dict[str, Any]] = []
    for kind, (api_class, method) in _WORKLOADS.items():
        if wanted_kinds is not None and kind not in wanted_kinds:
            continue
        lister = getattr(getattr(k8s_client, api_class)(api), method)
        try:
            for obj in _raw_list(lister, namespace=namespace):
                if wanted_names is None or (kind, obj["metadata"]["name"]) in wanted_names:
                    workloads.append(obj)
                    diag.statuses[f"{kind} {obj['metadata']['name']}"] = _status_text(obj)
        except _READ_ERRORS as exc:
            diag.errors.append(f"{kind} list: {_reason(exc)}")
    try:
        pods = _raw_list(core.list_namespaced_pod, namespace=namespace)
    except _READ_ERRORS as exc:
        diag.errors.append(f"pods: {_reason(exc)}")
        pods = []
    for pod in _involved_pods(pods, workloads, objects):
        diag.statuses[f"Pod {pod['metadata']['name']}"] = _status_text(pod)
        _container_logs(core, pod, tail_lines, diag)
    return diag
