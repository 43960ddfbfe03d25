"""Pure readings of API objects (as plain mappings): readiness, terminal failures, selectors.

Kept free of I/O so the rules that decide "done", "not yet" and "never" are unit
tested on recorded objects, and the waits only feed them what the watches deliver.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

Obj = Mapping[str, Any]

#: Container waiting reasons that never resolve without a change to the spec or image.
TERMINAL_WAITING_REASONS = frozenset(
    {
        "CrashLoopBackOff",
        "ImagePullBackOff",
        "ErrImagePull",
        "ErrImageNeverPull",
        "InvalidImageName",
        "CreateContainerConfigError",
        "CreateContainerError",
        "RunContainerError",
    }
)


@dataclass(frozen=True)
class Failure:
    """Why an object can never become ready: which object, the reason and the message."""

    subject: str
    reason: str
    message: str = ""

    def __str__(self) -> str:
        text = f"{self.subject}: {self.reason}"
        return f"{text}: {self.message}" if self.message else text


def _get(obj: Obj | None, *keys: str) -> Any:
    current: Any = obj
    for key in keys:
        if not isinstance(current, Mapping):
            return None
        current = current.get(key)
    return current


def name_of(obj: Obj) -> str:
    return str(_get(obj, "metadata", "name") or "")


def condition(obj: Obj, kind: str) -> Obj | None:
    """The status condition of type ``kind``, if present."""
    for cond in _get(obj, "status", "conditions") or []:
        if cond.get("type") == kind:
            return dict(cond)
    return None


def condition_is(obj: Obj, kind: str, value: str = "True") -> bool:
    cond = condition(obj, kind)
    return cond is not None and cond.get("status") == value


def selector_matches(selector: Obj | None, labels: Mapping[str, str] | None) -> bool:
    """Whether ``labels`` satisfy a LabelSelector (matchLabels and matchExpressions).

    An empty or missing selector matches nothing, as for workload selectors.
    """
    if not selector:
        return False
    labels = labels or {}
    match_labels = selector.get("matchLabels") or {}
    expressions = selector.get("matchExpressions") or []
    if not match_labels and not expressions:
        return False
    if any(labels.get(key) != value for key, value in match_labels.items()):
        return False
    return all(_expression_matches(expr, labels) for expr in expressions)


def _expression_matches(expr: Obj, labels: Mapping[str, str]) -> bool:
    key, operator, values = str(expr.get("key")), expr.get("operator"), expr.get("values") or []
    present = key in labels
    checks = {
        "In": lambda: present and labels[key] in values,
        "NotIn": lambda: not (present and labels[key] in values),
        "Exists": lambda: present,
        "DoesNotExist": lambda: not present,
    }
    check = checks.get(str(operator))
    return bool(check()) if check is not None else False


def selector_string(selector: Obj | None) -> str:
    """A LabelSelector as the API's query syntax (``a=b,c in (d,e),!f``)."""
    if not selector:
        return ""
    parts = [f"{k}={v}" for k, v in sorted((selector.get("matchLabels") or {}).items())]
    for expr in selector.get("matchExpressions") or []:
        key, operator, values = expr["key"], expr["operator"], expr.get("values") or []
        if operator == "In":
            parts.append(f"{key} in ({','.join(values)})")
        elif operator == "NotIn":
            parts.append(f"{key} notin ({','.join(values)})")
        elif operator == "Exists":
            parts.append(key)
        elif operator == "DoesNotExist":
            parts.append(f"!{key}")
    return ",".join(parts)


def pod_ready(pod: Obj) -> bool:
    return condition_is(pod, "Ready")


def pod_failure(pod: Obj, *, retried_by_controller: bool = False) -> Failure | None:
    """Why ``pod`` can never become ready, or None if it still may.

    ``retried_by_controller`` is for Job pods: a failed attempt is the Job
    controller's business (backoffLimit), so only failures that no retry can cure
    (image pulls, invalid config, unschedulable) end the wait.
    """
    subject = f"pod {_get(pod, 'metadata', 'namespace')}/{name_of(pod)}"
    status = pod.get("status") or {}
    containers = [
        *(status.get("initContainerStatuses") or []),
        *(status.get("containerStatuses") or []),
    ]
    for cs in containers:
        state = cs.get("state") or {}
        waiting = state.get("waiting") or {}
        if waiting.get("reason") in TERMINAL_WAITING_REASONS:
            if waiting["reason"] == "CrashLoopBackOff" and retried_by_controller:
                continue
            return Failure(
                f"{subject} container {cs.get('name')}",
                str(waiting["reason"]),
                str(waiting.get("message") or ""),
            )
        terminated = state.get("terminated") or {}
        code = terminated.get("exitCode")
        if terminated and code not in (0, None) and not retried_by_controller:
            reason = terminated.get("reason") or "Error"
            return Failure(
                f"{subject} container {cs.get('name')}",
                f"terminated with exit code {code} ({reason})",
                str(terminated.get("message") or ""),
            )
    if status.get("phase") == "Failed" and not retried_by_controller:
        return Failure(subject, str(status.get("reason") or "Failed"), status.get("message") or "")
    scheduled = condition(pod, "PodScheduled")
    if (
        scheduled
        and scheduled.get("status") == "False"
        and scheduled.get("reason") == "Unschedulable"
        # Waiting for a volume to be provisioned and bound resolves by itself.
        and "PersistentVolumeClaim" not in str(scheduled.get("message") or "")
    ):
        return Failure(subject, "Unschedulable", str(scheduled.get("message") or ""))
    return None


@dataclass(frozen=True)
class Verdict:
    """One reading of the watched state: done, or not yet and why."""

    done: bool
    progress: str


def _pods_failure(
    pods: Mapping[str, Obj], selector: Obj | None, *, retried_by_controller: bool = False
) -> Failure | None:
    for pod in pods.values():
        # A pod being deleted (an old replica during a rollout) exits with SIGTERM's
        # 143 or SIGKILL's 137 on its way out: that is the rollout working, not a failure.
        if _get(pod, "metadata", "deletionTimestamp"):
            continue
        if selector_matches(selector, _get(pod, "metadata", "labels")):
            failure = pod_failure(pod, retried_by_controller=retried_by_controller)
            if failure is not None:
                return failure
    return None


def _generation_pending(obj: Obj) -> str | None:
    observed = _get(obj, "status", "observedGeneration") or 0
    generation = _get(obj, "metadata", "generation") or 0
    if observed < generation:
        return f"controller has not observed generation {generation} yet (at {observed})"
    return None


def deployment_verdict(deploy: Obj | None, pods: Mapping[str, Obj]) -> Verdict | Failure:
    """Rollout complete: every replica updated, ready and available, no old ones left."""
    if deploy is None:
        return Verdict(False, "deployment not found yet")
    subject = f"deployment {_get(deploy, 'metadata', 'namespace')}/{name_of(deploy)}"
    progressing = condition(deploy, "Progressing")
    if progressing and progressing.get("reason") == "ProgressDeadlineExceeded":
        return Failure(subject, "ProgressDeadlineExceeded", str(progressing.get("message") or ""))
    if condition_is(deploy, "ReplicaFailure"):
        cond = condition(deploy, "ReplicaFailure") or {}
        return Failure(
            subject, str(cond.get("reason") or "ReplicaFailure"), str(cond.get("message") or "")
        )
    failure = _pods_failure(pods, _get(deploy, "spec", "selector"))
    if failure is not None:
        return failure
    pending = _generation_pending(deploy)
    if pending:
        return Verdict(False, pending)
    want = _get(deploy, "spec", "replicas")
    want = 1 if want is None else int(want)
    status = deploy.get("status") or {}
    counts = {
        key: int(status.get(key) or 0)
        for key in ("replicas", "updatedReplicas", "readyReplicas", "availableReplicas")
    }
    done = all(value == want for value in counts.values())
    progress = (
        f"{counts['updatedReplicas']}/{want} updated, {counts['readyReplicas']}/{want} ready, "
        f"{counts['availableReplicas']}/{want} available, {counts['replicas']} total"
    )
    return Verdict(done, progress)


def statefulset_verdict(sts: Obj | None, pods: Mapping[str, Obj]) -> Verdict | Failure:
    """Every replica ready and on the update revision."""
    if sts is None:
        return Verdict(False, "statefulset not found yet")
    failure = _pods_failure(pods, _get(sts, "spec", "selector"))
    if failure is not None:
        return failure
    pending = _generation_pending(sts)
    if pending:
        return Verdict(False, pending)
    want = _get(sts, "spec", "replicas")
    want = 1 if want is None else int(want)
    status = sts.get("status") or {}
    ready = int(status.get("readyReplicas") or 0)
    updated = int(status.get("updatedReplicas") or 0)
    rolling = (_get(sts, "spec", "updateStrategy", "type") or "RollingUpdate") == "RollingUpdate"
    same_revision = status.get("currentRevision") == status.get("updateRevision")
    done = ready == want and int(status.get("replicas") or 0) == want
    if rolling:
        done = done and updated == want and same_revision
    return Verdict(done, f"{ready}/{want} ready, {updated}/{want} updated")


def daemonset_verdict(ds: Obj | None, pods: Mapping[str, Obj]) -> Verdict | Failure:
    """Scheduled on every eligible node, updated and ready there."""
    if ds is None:
        return Verdict(False, "daemonset not found yet")
    failure = _pods_failure(pods, _get(ds, "spec", "selector"))
    if failure is not None:
        return failure
    pending = _generation_pending(ds)
    if pending:
        return Verdict(False, pending)
    status = ds.get("status") or {}
    want = int(status.get("desiredNumberScheduled") or 0)
    ready = int(status.get("numberReady") or 0)
    updated = int(status.get("updatedNumberScheduled") or 0)
    return Verdict(ready == want and updated == want, f"{ready}/{want} ready, {updated} updated")


def job_verdict(job: Obj | None, pods: Mapping[str, Obj]) -> Verdict | Failure:
    """Complete; a Failed condition, or a pod that no retry can cure, ends the wait."""
    if job is None:
        return Verdict(False, "job not found yet")
    subject = f"job {_get(job, 'metadata', 'namespace')}/{name_of(job)}"
    if condition_is(job, "Failed"):
        cond = condition(job, "Failed") or {}
        return Failure(subject, str(cond.get("reason") or "Failed"), str(cond.get("message") or ""))
    if condition_is(job, "Complete"):
        return Verdict(True, "complete")
    failure = _pods_failure(pods, _get(job, "spec", "selector"), retried_by_controller=True)
    if failure is not None:
        return failure
    status = job.get("status") or {}
    return Verdict(
        False,
        f"{status.get('succeeded') or 0} succeeded, {status.get('active') or 0} active, "
        f"{status.get('failed') or 0} failed",
    )


def pods_verdict(pods: Mapping[str, Obj], *, min_count: int = 1) -> Verdict | Failure:
    """At least ``min_count`` pods, every one Ready (or Succeeded)."""
    for pod in pods.values():
        failure = pod_failure(pod)
        if failure is not None:
            return failure
    ready = [
        name
        for name, pod in pods.items()
        if pod_ready(pod) or _get(pod, "status", "phase") == "Succeeded"
    ]
    waiting = sorted(set(pods) - set(ready))
    done = len(pods) >= min_count and not waiting
    progress = f"{len(ready)}/{max(len(pods), min_count)} pods ready"
    if waiting:
        progress += f"; waiting for {', '.join(waiting[:5])}"
    return Verdict(done, progress)


def crd_verdict(crd: Obj | None) -> Verdict | Failure:
    if crd is None:
        return Verdict(False, "CRD not found yet")
    names = condition(crd, "NamesAccepted")
    if names and names.get("status") == "False":
        return Failure(
            f"CRD {name_of(crd)}", str(names.get("reason")), str(names.get("message") or "")
        )
    return Verdict(condition_is(crd, "Established"), "waiting for Established")


def namespace_verdict(ns: Obj | None) -> Verdict:
    if ns is None:
        return Verdict(False, "namespace not found yet")
    phase = _get(ns, "status", "phase")
    return Verdict(phase == "Active", f"phase {phase}")
