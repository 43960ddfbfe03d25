"""Kubernetes manifests under ``k8s/``: schema validation at the pinned version, then policy.

Schemas come from the ``kubernetes-validate`` package (shipped per Kubernetes
minor version, strict mode: unknown fields are errors), so nothing is fetched at
run time. The version is ``[kubernetes] version`` in ``k8s/versions.toml``; a pin
the installed package has no schemas for is an error, never a silent fallback.
The policy is :mod:`testing.security.policy`.

Images: a manifest may name a key of ``[images]`` in ``k8s/versions.toml`` (e.g.
``image: postgres``), which deploy replaces with the pinned ``...@sha256:`` reference;
the policy checks that reference, as deployed. Other images are checked as written.

What is read: every ``*.yaml``/``*.yml`` document under the folder. Skipped, and
listed in the report: kustomization files and the patches they name (fragments,
not objects), and documents of tool-configuration API groups (kind's cluster
config, kwok's and kustomize's), which no API server ever receives. Any other
document without ``apiVersion`` and ``kind`` is a finding, so nothing goes
unchecked silently.
"""

from __future__ import annotations

import copy
import importlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from testing import pins
from testing.security import policy
from testing.security.report import Finding, ScanError, ScanResult, write_json, write_sarif

TOOL_CONFIG_GROUPS = frozenset(
    {"kind.x-k8s.io", "kwok.x-k8s.io", "config.kwok.x-k8s.io", "kustomize.config.k8s.io"}
)
KUSTOMIZATION_FILES = frozenset({"kustomization.yaml", "kustomization.yml", "Kustomization"})
SCHEMA_RULES = {
    "schema": "objects validate against the pinned Kubernetes version's schema",
    "not-an-object": "YAML under k8s/ holds Kubernetes objects",
    "yaml": "YAML parses",
}

Validator = Callable[[dict[str, Any]], None]


@dataclass(frozen=True)
class Document:
    path: Path
    line: int
    data: Any


def _load_documents(path: Path) -> Iterator[Document]:
    text = path.read_text(encoding="utf-8")
    # compose_all keeps each document's first line, for findings a person can open.
    for node in yaml.compose_all(text, Loader=yaml.SafeLoader):
        data = yaml.SafeLoader("").construct_document(node)
        yield Document(path, node.start_mark.line + 1, data)


def _patches(kustomization: Path) -> set[Path]:
    try:
        data = yaml.safe_load(kustomization.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        first = str(exc).splitlines()[0]
        raise ScanError(f"{kustomization} does not parse ({first}); fix it first") from None
    if not isinstance(data, dict):
        raise ScanError(f"{kustomization} is not a kustomization (not a mapping)")
    found: set[Path] = set()
    for entry in (data.get("patches") or []) + (data.get("patchesStrategicMerge") or []):
        name = entry.get("path") if isinstance(entry, dict) else entry
        if isinstance(name, str):
            found.add((kustomization.parent / name).resolve())
    for entry in data.get("patchesJson6902") or []:
        if isinstance(entry, dict) and isinstance(entry.get("path"), str):
            found.add((kustomization.parent / entry["path"]).resolve())
    return found


def schema_validator(kubernetes_version: str) -> Validator:
    """A validator for one pinned Kubernetes version, from kubernetes-validate's shipped schemas.

    Imported by name: the package lives in the ``security`` dependency group only,
    and the type checker's environment does not carry it.
    """
    try:
        kv: Any = importlib.import_module("kubernetes_validate")
    except ImportError:
        raise ScanError(
            "kubernetes-validate is not installed: run through `nox -s security`"
        ) from None
    minor = ".".join(kubernetes_version.lstrip("v").split(".")[:2])
    shipped = {".".join(v.split(".")[:2]) for v in kv.utils.all_versions()}
    if minor not in shipped:
        raise ScanError(
            f"kubernetes-validate {kv.__version__} ships no schemas for Kubernetes {minor} "
            f"(pinned in k8s/versions.toml); upgrade it: uv lock --upgrade-package "
            "kubernetes-validate"
        )

    def validate(data: dict[str, Any]) -> None:
        kv.validate(data, minor, strict=True)

    return validate


def resolve_images(obj: dict[str, Any], images: dict[str, str]) -> dict[str, Any]:
    """A copy of ``obj`` whose placeholder images are replaced by their pinned references."""
    resolved = copy.deepcopy(obj)
    spec = policy.pod_spec(resolved)
    for key in ("initContainers", "containers"):
        for container in (spec or {}).get(key) or []:
            if isinstance(container, dict) and container.get("image") in images:
                container["image"] = images[container["image"]]
    return resolved


def _schema_finding(exc: Exception) -> tuple[str, str] | None:
    """Map kubernetes-validate's exceptions (matched by name) to a rule and a message."""
    kind = type(exc).__name__
    if kind == "SchemaNotFoundError":
        return "unknown-kind", str(getattr(exc, "message", exc))
    if kind == "ValidationError":
        where = ".".join(str(p) for p in getattr(exc, "absolute_path", [])) or "(root)"
        return "schema", f"{where}: {getattr(exc, 'message', exc)}"
    return None


@dataclass
class _Context:
    validate: Validator
    images: dict[str, str]
    objects: list[dict[str, Any]] = field(default_factory=list)


def _check(doc: Document, rel: str, ctx: _Context, result: ScanResult) -> None:
    """Schema-validate and police one document, adding findings and notes to ``result``."""
    data = doc.data
    if data is None:  # an empty document, e.g. after a trailing ---
        return
    if not isinstance(data, dict) or not data.get("apiVersion") or not data.get("kind"):
        result.findings.append(
            Finding("not-an-object", "YAML document without apiVersion and kind", rel, doc.line)
        )
        return
    api_version = str(data["apiVersion"])
    group = api_version.rsplit("/", 1)[0] if "/" in api_version else ""
    if group in TOOL_CONFIG_GROUPS:
        result.notes.append(f"skipped {rel}:{doc.line}: {data['kind']} ({group}) is tool config")
        return
    name = f"{data['kind']}/{(data.get('metadata') or {}).get('name', '?')}"
    result.checked += 1
    ctx.objects.append({"file": rel, "line": doc.line, "object": name})
    allowed = policy.exceptions(data)[0]
    try:
        ctx.validate(data)
    except Exception as exc:  # kubernetes-validate's error types are not importable here
        finding = _schema_finding(exc)
        if finding is None:
            raise
        rule, message = finding
        if rule == "unknown-kind" and rule in allowed:
            result.notes.append(f"allowed unknown-kind on {name}: {allowed[rule]}")
        else:
            result.findings.append(Finding(rule, f"{name}: {message}", rel, doc.line))
    verdict = policy.evaluate(resolve_images(data, ctx.images))
    for violation in verdict.violations:
        result.findings.append(
            Finding(violation.rule, f"{name}: {violation.message}", rel, doc.line)
        )
    for violation, reason in verdict.allowed:
        result.notes.append(f"allowed {violation.rule} on {name} ({violation.message}): {reason}")


def scan(
    root: Path,
    reports: Path,
    *,
    folder: Path | None = None,
    kubernetes_version: str | None = None,
) -> ScanResult:
    """Validate and police every Kubernetes object under ``folder`` (default ``root/k8s``)."""
    base = folder or root / "k8s"
    version = kubernetes_version or pins.pin("kubernetes")
    try:
        images = {**pins.section("images"), **pins.section("cluster-images")}
    except pins.PinError:
        images = {}
    ctx = _Context(validate=schema_validator(version), images=images)
    files = sorted(p for p in base.rglob("*") if p.suffix in {".yaml", ".yml"} and p.is_file())
    patches: set[Path] = set()
    for kustomization in (p for p in files if p.name in KUSTOMIZATION_FILES):
        patches |= _patches(kustomization)
    result = ScanResult("manifests", checked=0, unit=f"objects (Kubernetes {version})")
    for path in files:
        rel = str(path.relative_to(root)) if path.is_relative_to(root) else str(path)
        if path.name in KUSTOMIZATION_FILES or path.resolve() in patches:
            result.notes.append(f"skipped {rel}: kustomize configuration or patch")
            continue
        try:
            docs = list(_load_documents(path))
        except yaml.YAMLError as exc:
            result.findings.append(Finding("yaml", f"does not parse: {exc}".splitlines()[0], rel))
            continue
        for doc in docs:
            _check(doc, rel, ctx, result)
    if result.checked == 0 and not result.findings:
        raise ScanError(f"no Kubernetes objects found under {base}: nothing was checked")
    rules = {**SCHEMA_RULES, **policy.RULES}
    result.reports = [
        write_json(reports / "manifests.json", {**result.to_json(), "objects": ctx.objects}),
        write_sarif(
            reports / "manifests.sarif", "k8s-test-platform manifests", rules, result.findings
        ),
    ]
    return result
