"""Every image the platform, the demo, the runner and the local node use, from one place.

Each image has an explicit source, printed by whoever uses it, never changed silently:

* ``pinned``: the references in ``k8s/versions.toml`` (``[images]`` by digest,
  ``[cluster-images]`` for the local node), pulled by the cluster's runtime. The demo
  and test-runner images are ``docker build``-t from their Dockerfiles on the pinned
  python base. For laptops and GitHub Actions, where registries answer.
* ``built``: built here without Docker or a registry (:mod:`testing.images.recipes`),
  written as image archives and loaded into the cluster. References are
  content-addressed (``ktp.local/<name>:<digest of the inputs>``), so an unchanged
  input builds nothing and a changed one gives a new tag.

The manifests name placeholders (``postgres``, ``minio``, ``minio-mc``,
``ktp-demo:dev``, ``ktp-tests:dev``) and are the same for both sources.
"""

from __future__ import annotations

import functools
import os
import sys
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from testing import pins
from testing.images.errors import ImageError

__all__ = [
    "IMAGE_SOURCE_ENV",
    "KEYS",
    "PLACEHOLDERS",
    "SOURCES",
    "Choice",
    "ImageError",
    "choose_source",
    "ensure",
    "reference",
    "references",
]

IMAGE_SOURCE_ENV = "TEST_IMAGE_SOURCE"
SOURCES = ("pinned", "built")
BUILT_REGISTRY = "ktp.local"
#: Placeholder in the manifests -> image key.
PLACEHOLDERS: dict[str, str] = {
    "postgres": "postgres",
    "minio": "minio",
    "minio-mc": "minio-mc",
    "ktp-demo:dev": "demo",
    "ktp-tests:dev": "tests",
    "pause": "pause",
    "coredns": "coredns",
    "local-path-provisioner": "local-path-provisioner",
    "local-path-helper": "local-path-helper",
}
KEYS = tuple(dict.fromkeys(PLACEHOLDERS.values()))
#: Images a user may name instead (an image of their own, loaded by themselves).
OVERRIDES = {"demo": "DEMO_IMAGE", "tests": "TEST_RUNNER_IMAGE"}
#: The images the pinned source builds with Docker rather than pulls.
DOCKER_BUILT = {"demo": "demo/Dockerfile", "tests": "testing/runner/Dockerfile"}
PINNED_SECTION = {
    "postgres": ("images", "postgres"),
    "minio": ("images", "minio"),
    "minio-mc": ("images", "minio-mc"),
    "pause": ("cluster-images", "pause"),
    "coredns": ("cluster-images", "coredns"),
    "local-path-provisioner": ("cluster-images", "local-path-provisioner"),
    "local-path-helper": ("cluster-images", "local-path-helper"),
}


@dataclass(frozen=True)
class Choice:
    source: str
    reason: str


def choose_source(
    provider_name: str,
    environ: Mapping[str, str] | None = None,
    *,
    unreachable: Callable[[str], str | None] | None = None,
) -> Choice:
    """``$TEST_IMAGE_SOURCE`` if set; else built for ``local``; for ``kind``, pinned where
    the node image's registry answers and built where it does not; else pinned.

    ``unreachable`` says why a reference's registry cannot be reached (None: it answers).
    """
    env = os.environ if environ is None else environ
    explicit = env.get(IMAGE_SOURCE_ENV)
    if explicit:
        if explicit not in SOURCES:
            raise ImageError(
                f"{IMAGE_SOURCE_ENV}={explicit!r} is not a source: "
                f"choose one of {', '.join(SOURCES)}"
            )
        return Choice(explicit, f"{IMAGE_SOURCE_ENV}={explicit}")
    if provider_name == "local":
        return Choice(
            "built",
            "the local provider's default: no registry needed; "
            f"{IMAGE_SOURCE_ENV}=pinned pulls the digests in k8s/versions.toml",
        )
    if provider_name == "kind":
        try:
            node_image = pins.pin("kind", "node_image")
        except pins.PinError as exc:
            raise ImageError(str(exc)) from None
        why = (unreachable or registry_unreachable)(node_image)
        if why is not None:
            return Choice(
                "built",
                f"{why}, so the node image and the platform's images are built here; "
                f"{IMAGE_SOURCE_ENV}=pinned pulls them anyway",
            )
        return Choice(
            "pinned",
            f"the registry of {node_image.split('@')[0]} answers; "
            f"{IMAGE_SOURCE_ENV}=built builds them here",
        )
    return Choice(
        "pinned",
        f"the {provider_name} provider's default; {IMAGE_SOURCE_ENV}=built builds them here",
    )


#: How long the registry of the pinned kind node image gets to answer.
REGISTRY_TIMEOUT_S = 5.0


def registry_host(image: str) -> str:
    """The registry a reference is pulled from (Docker Hub for names without one)."""
    first = image.split("/", 1)[0]
    if "/" in image and ("." in first or ":" in first or first == "localhost"):
        return "registry-1.docker.io" if first == "docker.io" else first
    return "registry-1.docker.io"


@functools.cache
def registry_unreachable(image: str) -> str | None:
    """Why the registry of ``image`` cannot be reached, or None when it answers at all
    (401 included: answering is enough, pulls authenticate on their own)."""
    host = registry_host(image)
    try:
        # https only, to a registry host taken from a pinned reference.
        with urllib.request.urlopen(  # nosec B310
            f"https://{host}/v2/", timeout=REGISTRY_TIMEOUT_S
        ):
            return None
    except urllib.error.HTTPError:
        return None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        return f"the registry {host} does not answer ({reason})"


def _key(name: str) -> str:
    key = PLACEHOLDERS.get(name, name)
    if key not in KEYS:
        raise ImageError(f"unknown image {name!r}; known: {', '.join(KEYS)}")
    return key


def reference(name: str, source: str, environ: Mapping[str, str] | None = None) -> str:
    """The reference of one image (a key or a placeholder), without building it."""
    from testing.images.recipes import RECIPES, content_tag  # noqa: PLC0415

    env = os.environ if environ is None else environ
    key = _key(name)
    if source not in SOURCES:
        raise ImageError(f"image source {source!r} is not one of {', '.join(SOURCES)}")
    override = env.get(OVERRIDES.get(key, ""), "")
    if override:
        return override
    if source == "built":
        return f"{BUILT_REGISTRY}/{RECIPES[key].name}:{content_tag(key)}"
    if key in DOCKER_BUILT:
        return {"demo": "ktp-demo:dev", "tests": "ktp-tests:dev"}[key]
    section, pin_key = PINNED_SECTION[key]
    try:
        return pins.pin(section, pin_key)
    except pins.PinError as exc:
        raise ImageError(str(exc)) from None


def references(source: str, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """Placeholder -> reference for every placeholder the manifests may name."""
    return {name: reference(name, source, environ) for name in PLACEHOLDERS}


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def ensure(
    names: Iterable[str], source: str, *, say: Callable[[str], None] = _say
) -> dict[str, Path | None]:
    """Make each image available to load: key -> archive (built) or None (pulled/docker)."""
    from testing.images.build import build_archive, docker_build  # noqa: PLC0415

    result: dict[str, Path | None] = {}
    for name in names:
        key = _key(name)
        if os.environ.get(OVERRIDES.get(key, "")):
            result[key] = None  # the user's own image, loaded by themselves
        elif source == "built":
            result[key] = build_archive(key, reference(key, source), say=say)
        elif key in DOCKER_BUILT:
            docker_build(key, reference(key, source), DOCKER_BUILT[key], say=say)
            result[key] = None
        else:
            result[key] = None
    return result
