"""Where the platform manifests live, in which stages deploy applies them, and rendering.

The manifests are plain YAML whose container images are placeholders (``postgres``,
``minio``, ``minio-mc``, ``ktp-demo:dev``, ``ktp-tests:dev``); :func:`render` swaps in the
references :mod:`testing.images` gives for the chosen source (pinned digests, or images
built here), so the manifests are the same for both. The demo and runner images carry no
digest; the manifests that use them hold a documented exception for the security policy.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from testing import images, pins
from testing.k8s.apply import load_manifests
from testing.platform import DEFAULT_NAMESPACE, PlatformError

PLATFORM_DIR = pins.REPO_ROOT / "k8s" / "platform"
NAMESPACE = DEFAULT_NAMESPACE  # what the manifests in k8s/platform name
ROLE_LABEL = "ktp.dev/role"


@dataclass(frozen=True)
class Stage:
    """Manifests applied together, after the previous stage is healthy."""

    name: str
    files: tuple[str, ...]


#: Dependency order: the namespace and its policies first, then the servers, then the
#: Jobs that need the servers, then the dashboard that needs the initialised data.
STAGES: tuple[Stage, ...] = (
    Stage("base", ("namespace.yaml", "rbac.yaml", "networkpolicies.yaml")),
    Stage("services", ("postgres.yaml", "minio.yaml")),
    Stage("init", ("postgres-init-job.yaml", "minio-init-job.yaml")),
    Stage("dashboard", ("dashboard.yaml",)),
)


def kustomization_resources(directory: Path = PLATFORM_DIR) -> list[str]:
    """The ``resources`` of the kustomization, the list ``kubectl kustomize`` would use."""
    path = directory / "kustomization.yaml"
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise PlatformError(f"cannot read {path}: {exc}") from None
    return [str(item) for item in data.get("resources") or []]


def image_source(environ: Mapping[str, str] | None = None) -> images.Choice:
    """The image source for the cluster provider in use (see ``choose_provider``)."""
    from testing.cluster import ClusterError, choose_provider  # noqa: PLC0415

    env = os.environ if environ is None else environ
    try:
        return images.choose_source(choose_provider(env)[0], env)
    except ClusterError as exc:
        raise PlatformError(str(exc)) from None
    except images.ImageError as exc:
        raise PlatformError(str(exc)) from None


def image_map(
    environ: Mapping[str, str] | None = None, source: str | None = None
) -> dict[str, str]:
    """Placeholder -> image reference, for ``source`` (default: :func:`image_source`)."""
    try:
        return images.references(source or image_source(environ).source, environ)
    except (images.ImageError, pins.PinError) as exc:
        raise PlatformError(str(exc)) from None


def _pod_specs(obj: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    kind = obj.get("kind")
    spec = obj.get("spec") or {}
    if kind == "Pod":
        yield spec
    elif kind in {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"}:
        yield (spec.get("template") or {}).get("spec") or {}
    elif kind == "CronJob":
        job = (spec.get("jobTemplate") or {}).get("spec") or {}
        yield (job.get("template") or {}).get("spec") or {}


def containers(obj: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    """Every container and init container of a workload object."""
    for pod in _pod_specs(obj):
        yield from pod.get("initContainers") or []
        yield from pod.get("containers") or []


def render(objects: Sequence[Mapping[str, Any]], images: Mapping[str, str]) -> list[dict[str, Any]]:
    """Deep copies of ``objects`` with every placeholder image replaced by its reference.

    An image that is neither a placeholder nor already pinned by digest is an error, so
    a manifest cannot slip an unpinned image past deploy.
    """
    rendered: list[dict[str, Any]] = []
    for obj in objects:
        copied = copy.deepcopy(dict(obj))
        for container in containers(copied):
            image = str(container.get("image", ""))
            if image in images:
                container["image"] = images[image]
            elif "@sha256:" not in image:
                name = (copied.get("metadata") or {}).get("name", "?")
                raise PlatformError(
                    f"{copied.get('kind')} {name}: image {image!r} is neither a key of "
                    "[images] in k8s/versions.toml nor pinned by digest"
                )
        rendered.append(copied)
    return rendered


def retarget(objects: Sequence[dict[str, Any]], namespace: str) -> list[dict[str, Any]]:
    """``objects`` moved from :data:`NAMESPACE` into ``namespace`` (in place; returned).

    Integration tests deploy a private copy of the platform into a namespace of their
    own, so parallel tests (and a planted failure) never touch each other's objects.
    A fixed ``nodePort`` is cluster-wide and belongs to the real platform (the kind port
    mapping points at it), so copies let the API server allocate theirs.
    """
    for obj in objects:
        meta = obj.setdefault("metadata", {})
        if obj.get("kind") == "Service":
            for port in (obj.get("spec") or {}).get("ports") or []:
                port.pop("nodePort", None)
        if obj.get("kind") == "Namespace" and meta.get("name") == NAMESPACE:
            meta["name"] = namespace
        elif meta.get("namespace") == NAMESPACE:
            meta["namespace"] = namespace
        for subject in obj.get("subjects") or []:
            if subject.get("namespace") == NAMESPACE:
                subject["namespace"] = namespace
    return list(objects)


def stage_objects(
    stage: Stage,
    *,
    directory: Path = PLATFORM_DIR,
    images: Mapping[str, str] | None = None,
    namespace: str = NAMESPACE,
) -> list[dict[str, Any]]:
    """The rendered objects of one stage."""
    objects = load_manifests([directory / name for name in stage.files])
    rendered = render(objects, image_map() if images is None else images)
    return rendered if namespace == NAMESPACE else retarget(rendered, namespace)


def render_all(
    directory: Path = PLATFORM_DIR, images: Mapping[str, str] | None = None
) -> list[dict[str, Any]]:
    """Every platform object as deploy would apply it (`python -m testing.platform render`,
    and the tests of what deploy applies; the security scan reads the files themselves)."""
    resolved = image_map() if images is None else images
    return [
        obj
        for stage in STAGES
        for obj in stage_objects(stage, directory=directory, images=resolved)
    ]
