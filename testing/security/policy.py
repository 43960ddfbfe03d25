"""A small, documented policy for the pod specs in this repository's manifests.

Why our own rules: the established linters do not fit offline here (kube-linter is
not served by the Go module proxy this project builds tools through; checkov's
dependency pins would downgrade shared packages in ``uv.lock``). The rules are the
few the project promises, each with an id:

=======================  ==================================================================
``resources``            every container and init container sets ``limits.cpu`` and
                         ``limits.memory``
``probes``               every container of a long-running pod has a ``livenessProbe`` and
                         a ``readinessProbe`` (pods with ``restartPolicy`` Never/OnFailure,
                         i.e. Jobs, run to completion and are exempt)
``run-as-root``          the effective ``runAsUser`` is not 0, and the container is held to
                         non-root by ``runAsNonRoot: true`` or a ``runAsUser`` above 0
``privilege-escalation`` ``allowPrivilegeEscalation: false`` is set (Kubernetes' default is
                         to allow it)
``privileged``           no ``privileged: true``, no added ``ALL``/``SYS_ADMIN`` capability,
                         no ``hostNetwork``/``hostPID``/``hostIPC``
``host-path``            no ``hostPath`` volume
``image-latest``         every image names a tag or digest, and the tag is not ``latest``
``image-digest``         every image is pinned by ``@sha256:`` digest
``credential-literal``   no literal env value under a credential-like name (password,
                         secret, token, api key, ...) and no URL with an embedded password;
                         use ``valueFrom.secretKeyRef``
``unknown-kind``         (schema step) the kind is one the pinned Kubernetes version knows;
                         allow it for custom resources
=======================  ==================================================================

A justified exception is granted per object (not per repository) with an
annotation on the object's own metadata that names one rule and gives the reason::

    metadata:
      annotations:
        security.k8s-test-platform/allow-image-digest: "built locally by nox -s demo; no registry"

An exception naming an unknown rule, or with an empty reason, is itself a finding.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

ALLOW_PREFIX = "security.k8s-test-platform/allow-"
MIN_REASON_CHARS = 10

RULES: dict[str, str] = {
    "resources": "containers set CPU and memory limits",
    "probes": "long-running containers have liveness and readiness probes",
    "run-as-root": "containers run as a non-root user",
    "privilege-escalation": "containers set allowPrivilegeEscalation: false",
    "privileged": "no privileged containers, added ALL/SYS_ADMIN capabilities or host namespaces",
    "host-path": "no hostPath volumes",
    "image-latest": "images name a tag or digest other than latest",
    "image-digest": "images are pinned by sha256 digest",
    "credential-literal": "no credential literals in env; use secretKeyRef",
    "unknown-kind": "objects are of a kind the pinned Kubernetes version knows",
    "exception": "exception annotations name a known rule and give a reason",
}

_CREDENTIAL_NAME = re.compile(
    r"(?i)(pass(word|wd)?|secret|token|api[_-]?key|private[_-]?key|credential|access[_-]?key|"
    r"auth[_-]?key|client[_-]?secret)"
)
_URL_PASSWORD = re.compile(r"[a-z][a-z0-9+.-]*://[^/\s:@]+:([^/\s@]+)@", re.IGNORECASE)
# Kubernetes expands $(VAR) from the container's other env vars (e.g. a secretKeyRef):
# a value made only of such references carries no credential itself.
_ONLY_REFERENCES = re.compile(r"^(\$\([A-Za-z_][A-Za-z0-9_]*\))+$")
_DIGEST = re.compile(r"@sha256:[0-9a-f]{64}$")
_RUN_TO_COMPLETION = frozenset({"Never", "OnFailure"})


@dataclass(frozen=True)
class Violation:
    rule: str
    message: str


def pod_spec(obj: dict[str, Any]) -> dict[str, Any] | None:
    """The pod spec a workload object runs, or None for objects that run no pods."""
    kind = obj.get("kind")
    spec = obj.get("spec") or {}
    if kind == "Pod":
        found: Any = spec
    elif kind == "CronJob":
        found = (((spec.get("jobTemplate") or {}).get("spec") or {}).get("template") or {}).get(
            "spec"
        )
    elif kind == "PodTemplate":
        found = (obj.get("template") or {}).get("spec")
    elif kind in {
        "Deployment",
        "StatefulSet",
        "DaemonSet",
        "ReplicaSet",
        "ReplicationController",
        "Job",
    }:
        found = (spec.get("template") or {}).get("spec")
    else:
        return None
    return found if isinstance(found, dict) else {}


def _containers(spec: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any], bool]]:
    for key, is_init in (("initContainers", True), ("containers", False)):
        for container in spec.get(key) or []:
            if isinstance(container, dict):
                yield str(container.get("name", "?")), container, is_init


def _effective(spec: dict[str, Any], container: dict[str, Any], field: str) -> Any:
    """A securityContext field as Kubernetes applies it: the container's wins over the pod's."""
    own = (container.get("securityContext") or {}).get(field)
    return own if own is not None else (spec.get("securityContext") or {}).get(field)


def _image_violations(where: str, image: str) -> Iterator[Violation]:
    name = image.split("@", 1)[0]
    last = name.rsplit("/", 1)[-1]
    tag = last.split(":", 1)[1] if ":" in last else None
    has_digest = bool(_DIGEST.search(image))
    if tag == "latest" or (tag is None and not has_digest):
        yield Violation("image-latest", f"{where}: image {image!r} floats (no tag, or :latest)")
    if not has_digest:
        yield Violation("image-digest", f"{where}: image {image!r} is not pinned by @sha256 digest")


def _env_violations(where: str, container: dict[str, Any]) -> Iterator[Violation]:
    for env in container.get("env") or []:
        if not isinstance(env, dict) or "value" not in env:
            continue
        name, value = str(env.get("name", "")), str(env.get("value") or "")
        if value and _CREDENTIAL_NAME.search(name) and not _ONLY_REFERENCES.match(value):
            yield Violation(
                "credential-literal",
                f"{where}: env {name} holds a literal credential; use valueFrom.secretKeyRef",
            )
            continue
        for password in _URL_PASSWORD.findall(value):
            if not _ONLY_REFERENCES.match(password):
                yield Violation(
                    "credential-literal",
                    f"{where}: env {name} holds a URL with a literal password; "
                    "compose it from $(VAR) references to a secretKeyRef",
                )


def _security_context(
    where: str, spec: dict[str, Any], container: dict[str, Any]
) -> Iterator[Violation]:
    user = _effective(spec, container, "runAsUser")
    if user == 0:
        yield Violation("run-as-root", f"{where} runs as root (runAsUser: 0)")
    elif _effective(spec, container, "runAsNonRoot") is not True and not (
        isinstance(user, int) and user > 0
    ):
        yield Violation(
            "run-as-root", f"{where} may run as root: set runAsNonRoot: true or a runAsUser above 0"
        )
    context = container.get("securityContext") or {}
    if context.get("allowPrivilegeEscalation") is not False:
        yield Violation(
            "privilege-escalation", f"{where} does not set allowPrivilegeEscalation: false"
        )
    if context.get("privileged") is True:
        yield Violation("privileged", f"{where} is privileged")
    added = {str(c).upper() for c in (context.get("capabilities") or {}).get("add") or []}
    for cap in sorted(added & {"ALL", "SYS_ADMIN", "CAP_SYS_ADMIN"}):
        yield Violation("privileged", f"{where} adds capability {cap}")


def _container(
    where: str, spec: dict[str, Any], container: dict[str, Any], *, needs_probes: bool
) -> Iterator[Violation]:
    limits = (container.get("resources") or {}).get("limits") or {}
    missing = [r for r in ("cpu", "memory") if r not in limits]
    if missing:
        yield Violation("resources", f"{where} sets no {'/'.join(missing)} limit")
    if needs_probes:
        absent = [p for p in ("livenessProbe", "readinessProbe") if not container.get(p)]
        if absent:
            yield Violation("probes", f"{where} has no {' or '.join(absent)}")
    yield from _security_context(where, spec, container)
    image = container.get("image")
    if not isinstance(image, str) or not image:
        yield Violation("image-latest", f"{where} names no image")
    else:
        yield from _image_violations(where, image)
    yield from _env_violations(where, container)


def check_pod_spec(spec: dict[str, Any]) -> list[Violation]:
    """Every rule violation in one pod spec."""
    found = [
        Violation("privileged", f"pod sets {flag}: true")
        for flag in ("hostNetwork", "hostPID", "hostIPC")
        if spec.get(flag) is True
    ]
    found += [
        Violation("host-path", f"volume {volume.get('name')!r} mounts a hostPath")
        for volume in spec.get("volumes") or []
        if isinstance(volume, dict) and "hostPath" in volume
    ]
    completes = spec.get("restartPolicy") in _RUN_TO_COMPLETION
    for name, container, is_init in _containers(spec):
        where = f"{'init container' if is_init else 'container'} {name!r}"
        found += _container(where, spec, container, needs_probes=not is_init and not completes)
    return found


@dataclass(frozen=True)
class Verdict:
    """The violations that stand, and the ones an exception annotation allowed (with why)."""

    violations: list[Violation]
    allowed: list[tuple[Violation, str]]


def exceptions(obj: dict[str, Any]) -> tuple[dict[str, str], list[Violation]]:
    """The object's allow-annotations (rule -> reason), and the malformed ones as violations."""
    annotations = (obj.get("metadata") or {}).get("annotations") or {}
    allowed: dict[str, str] = {}
    bad: list[Violation] = []
    for key, value in annotations.items():
        if not str(key).startswith(ALLOW_PREFIX):
            continue
        rule = str(key)[len(ALLOW_PREFIX) :]
        reason = str(value or "").strip()
        if rule not in RULES or rule == "exception":
            bad.append(Violation("exception", f"annotation {key} names no known rule"))
        elif len(reason) < MIN_REASON_CHARS:
            bad.append(Violation("exception", f"annotation {key} gives no reason"))
        else:
            allowed[rule] = reason
    return allowed, bad


def evaluate(obj: dict[str, Any]) -> Verdict:
    """Apply the rules to one Kubernetes object and its exception annotations."""
    allowed_rules, bad = exceptions(obj)
    spec = pod_spec(obj)
    violations = check_pod_spec(spec) if spec is not None else []
    standing = [v for v in violations if v.rule not in allowed_rules]
    allowed = [(v, allowed_rules[v.rule]) for v in violations if v.rule in allowed_rules]
    return Verdict(violations=bad + standing, allowed=allowed)
