"""Server-side apply of manifests, in dependency order, idempotently.

Why server-side apply: the API server merges and records field ownership under the
project's field manager, so re-applying the same manifests is a no-op (the
``resourceVersion`` does not move) and a changed manifest updates only what it owns.
Why an order: a Deployment applied before its ServiceAccount, ConfigMap or
Namespace fails or crash-loops; a custom resource applied before its CRD is
Established is rejected. Objects are therefore applied kind by kind (see
:data:`KIND_ORDER`), and CRDs are awaited before anything after them.

Directories are read recursively (``*.yaml``/``*.yml``, multi-document, ``kind: List``
expanded, files sorted by path). ``kustomization.yaml`` files are skipped, not
rendered: point this at plain manifests (or at the output of ``kustomize build``).
"""

from __future__ import annotations

import os
import tempfile
import weakref
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml
from kubernetes import client as k8s_client
from kubernetes.dynamic import DynamicClient
from kubernetes.dynamic.exceptions import DynamicApiError, ResourceNotFoundError

from testing.k8s.objects import AppliedObject, K8sError, ObjectRef
from testing.k8s.wait import wait_for_ready

FIELD_MANAGER = "k8s-test-platform"
KUSTOMIZATION_FILES = frozenset({"kustomization.yaml", "kustomization.yml", "Kustomization"})

#: Apply order by kind; kinds not listed (custom resources, ...) go last, after CRDs
#: are established. Within one kind, the order of the input is kept.
KIND_ORDER: tuple[tuple[str, ...], ...] = (
    ("Namespace",),
    ("CustomResourceDefinition",),
    ("PriorityClass", "StorageClass", "IngressClass", "RuntimeClass"),
    ("ServiceAccount",),
    ("ClusterRole", "Role"),
    ("ClusterRoleBinding", "RoleBinding"),
    ("ResourceQuota", "LimitRange", "NetworkPolicy", "PodDisruptionBudget"),
    ("Secret", "ConfigMap"),
    ("PersistentVolume", "PersistentVolumeClaim"),
    ("Service", "Endpoints", "EndpointSlice"),
    ("DaemonSet", "Deployment", "StatefulSet", "ReplicaSet", "ReplicationController", "Pod"),
    ("HorizontalPodAutoscaler",),
    ("Job", "CronJob"),
    ("Ingress",),
    ("MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"),
)
_RANK = {kind: rank for rank, kinds in enumerate(KIND_ORDER) for kind in kinds}
_UNKNOWN_RANK = len(KIND_ORDER)
_CRD_RANK = _RANK["CustomResourceDefinition"]


class ApplyError(K8sError):
    """An object could not be applied; names the object and the server's reason."""


def kind_rank(kind: str) -> int:
    """Position of ``kind`` in the apply order (unknown kinds last)."""
    return _RANK.get(kind, _UNKNOWN_RANK)


def sort_objects(objects: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """``objects`` in dependency order; stable within one kind."""
    return sorted(objects, key=lambda obj: kind_rank(str(obj.get("kind", ""))))


def manifest_files(paths: Sequence[Path]) -> list[Path]:
    """Every YAML manifest under ``paths`` (files as given, directories recursively)."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found.extend(
                sorted(
                    candidate
                    for candidate in path.rglob("*")
                    if candidate.suffix in {".yaml", ".yml"}
                    and candidate.is_file()
                    and candidate.name not in KUSTOMIZATION_FILES
                )
            )
        elif path.is_file():
            found.append(path)
        else:
            raise ApplyError(f"manifest path {path} does not exist")
    return found


def _expand(document: Any, source: str) -> Iterator[Mapping[str, Any]]:
    if document is None:
        return
    if not isinstance(document, dict) or "kind" not in document or "apiVersion" not in document:
        raise ApplyError(f"{source}: a document is not a Kubernetes object (no kind/apiVersion)")
    if str(document["kind"]).endswith("List") and isinstance(document.get("items"), list):
        for item in document.get("items") or []:
            yield from _expand(item, source)
        return
    yield document


def load_manifests(paths: Sequence[Path]) -> list[Mapping[str, Any]]:
    """Parse every document of every manifest file under ``paths``."""
    objects: list[Mapping[str, Any]] = []
    for file in manifest_files(paths):
        try:
            documents = list(yaml.safe_load_all(file.read_text(encoding="utf-8")))
        except yaml.YAMLError as exc:
            raise ApplyError(f"{file}: not valid YAML: {exc}") from None
        for document in documents:
            objects.extend(_expand(document, str(file)))
    return objects


_DYNAMIC: weakref.WeakKeyDictionary[k8s_client.ApiClient, DynamicClient] = (
    weakref.WeakKeyDictionary()
)


def dynamic_client(api: k8s_client.ApiClient) -> DynamicClient:
    """The dynamic client of ``api`` (discovery done once per client and process)."""
    dyn = _DYNAMIC.get(api)
    if dyn is None:
        # The client's default discovery cache is one file per API server shared by every
        # process (pytest-xdist workers would rewrite it under each other) and left
        # behind. Discovery is kept in memory; later cache writes to the removed
        # directory fail silently by the client's design.
        with tempfile.TemporaryDirectory(prefix="ktp-discovery-") as scratch:
            cache = os.path.join(scratch, "discovery.json")
            dyn = DynamicClient(api, cache_file=cache)  # type: ignore[no-untyped-call]
        _DYNAMIC[api] = dyn
    return dyn


def _resource(dyn: DynamicClient, api_version: str, kind: str) -> Any:
    try:
        return dyn.resources.get(api_version=api_version, kind=kind)
    except ResourceNotFoundError:
        # A CRD applied a moment ago is not in the cached discovery yet.
        dyn.resources.invalidate_cache()
        try:
            return dyn.resources.get(api_version=api_version, kind=kind)
        except ResourceNotFoundError:
            raise ApplyError(
                f"the API server does not serve {kind} in {api_version}: "
                "is its CRD applied and established?"
            ) from None


def _server_message(exc: DynamicApiError) -> str:
    summary = getattr(exc, "summary", None)
    if callable(summary):
        return str(summary())
    return str(exc)


def _apply_one(
    dyn: DynamicClient, obj: Mapping[str, Any], namespace: str | None, field_manager: str
) -> AppliedObject:
    ref = ObjectRef.of(obj)
    if not ref.name:
        raise ApplyError(f"{ref.kind} in {ref.api_version} has no metadata.name")
    resource = _resource(dyn, ref.api_version, ref.kind)
    body: dict[str, Any] = {**obj, "metadata": dict(obj.get("metadata") or {})}
    target_ns: str | None = None
    if resource.namespaced:
        own = body["metadata"].get("namespace")
        if own and namespace and own != namespace:
            raise ApplyError(
                f"{ref} says namespace {own!r} but it is applied into {namespace!r}; "
                "drop metadata.namespace from the manifest"
            )
        target_ns = own or namespace or "default"
        body["metadata"]["namespace"] = target_ns
    else:
        body["metadata"].pop("namespace", None)
    try:
        result = dyn.server_side_apply(  # type: ignore[no-untyped-call]
            resource,
            body=body,
            name=ref.name,
            namespace=target_ns,
            field_manager=field_manager,
            force_conflicts=True,
        )
    except DynamicApiError as exc:
        where = ObjectRef(ref.api_version, ref.kind, ref.name, target_ns)
        raise ApplyError(f"applying {where} failed: {_server_message(exc)}") from None
    meta = result.to_dict().get("metadata", {})
    return AppliedObject(
        api_version=ref.api_version,
        kind=ref.kind,
        name=ref.name,
        namespace=target_ns,
        uid=str(meta.get("uid", "")),
        resource_version=str(meta.get("resourceVersion", "")),
        generation=int(meta.get("generation") or 0),
    )


def apply_objects(
    api: k8s_client.ApiClient,
    objects: Sequence[Mapping[str, Any]],
    *,
    namespace: str | None = None,
    field_manager: str = FIELD_MANAGER,
    crd_timeout: float = 60,
) -> list[AppliedObject]:
    """Server-side apply ``objects`` in dependency order; return them as stored.

    ``namespace`` fills in namespaced objects that name none; an object naming a
    different one is an error (as with kubectl). CRDs are awaited (Established)
    before the objects that follow them.
    """
    dyn = dynamic_client(api)
    applied: list[AppliedObject] = []
    pending_crds: list[AppliedObject] = []
    for obj in sort_objects(objects):
        kind = str(obj.get("kind", ""))
        if pending_crds and kind_rank(kind) > _CRD_RANK:
            wait_for_ready(api, pending_crds, timeout=crd_timeout)
            pending_crds = []
        done = _apply_one(dyn, obj, namespace, field_manager)
        applied.append(done)
        if kind == "CustomResourceDefinition":
            pending_crds.append(done)
    if pending_crds:
        wait_for_ready(api, pending_crds, timeout=crd_timeout)
    return applied


def apply_paths(
    api: k8s_client.ApiClient,
    paths: Sequence[Path],
    *,
    namespace: str | None = None,
    field_manager: str = FIELD_MANAGER,
) -> list[AppliedObject]:
    """Apply every manifest under ``paths`` (see the module docstring for the rules)."""
    return apply_objects(
        api, load_manifests(paths), namespace=namespace, field_manager=field_manager
    )
