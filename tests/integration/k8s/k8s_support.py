"""Helpers of the k8s integration tests: pod builders and a separate pytest run.

Pods here are simulated by kwok (no container runs; this machine reaches no image
registry). Their state transitions are real API objects written by the kwok
controller and watched through the real API server, which is what the library
under test consumes.

Failures are planted with labels that kwok's stages act on, so the kwok controller
(the kubelet's stand-in) writes every state, never the test: kwok's own chaos stage
(:data:`KWOK_FAIL_LABEL` makes a Running pod's containers exit with a chosen code),
and the project's stages for what a kubelet reports and kwok does not
(:data:`CRASHLOOP_LABEL`, :data:`IMAGE_PULL_BACKOFF_LABEL`; ``k8s/kwok/stages``).

:class:`WatchRequests` tells a test when a wait has listed and begun to watch, so an
object it creates afterwards can only reach the wait through the watch.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from kubernetes.client import ApiClient

from testing.cluster.kwok import CRASHLOOP_LABEL, IMAGE_PULL_BACKOFF_LABEL
from testing.k8s.apply import apply_objects
from testing.k8s.client import clone
from testing.k8s.objects import AppliedObject
from testing.polling import wait_for_condition

MANIFESTS = Path(__file__).parent / "manifests"
#: kwok's chaos stage (loaded by the kwok provider): fail a Running pod's containers.
KWOK_FAIL_LABEL = "pod-container-running-failed.stage.kwok.x-k8s.io"
KWOK_FAIL_EXIT_CODE = f"{KWOK_FAIL_LABEL}/exit-code"
KWOK_FAIL_MESSAGE = f"{KWOK_FAIL_LABEL}/message"
__all__ = ["CRASHLOOP_LABEL", "IMAGE_PULL_BACKOFF_LABEL"]


def pod_manifest(
    name: str,
    *,
    labels: Mapping[str, str] | None = None,
    containers: tuple[str, ...] = ("app",),
    ports: tuple[int, ...] = (),
    **spec: Any,
) -> dict[str, Any]:
    """A pod that kwok schedules onto its fake node (it tolerates every taint)."""
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": {"app": name, **(labels or {})}},
        "spec": {
            "tolerations": [{"operator": "Exists"}],
            "containers": [
                {
                    "name": container,
                    "image": f"registry.invalid/{container}:1.0",
                    "ports": [{"containerPort": port} for port in ports],
                }
                for container in containers
            ],
            **spec,
        },
    }


def deployment_manifest(
    name: str,
    *,
    replicas: int = 1,
    pod_labels: Mapping[str, str] | None = None,
    **pod_spec: Any,
) -> dict[str, Any]:
    pod = pod_manifest(name, labels=pod_labels, **pod_spec)
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": pod["metadata"]["labels"]}, "spec": pod["spec"]},
        },
    }


class WatchRequests:
    """A client of its own whose watch requests for ``resource`` are counted as they leave.

    A wait lists first and then watches from the list's resourceVersion, so once its
    watch request for ``resource`` is sent, anything created afterwards reaches the
    wait as a watch event, never through its first list.
    """

    def __init__(self, api: ApiClient, resource: str) -> None:
        self.api = clone(api)
        self._sent = threading.Event()
        rest = self.api.rest_client
        send = rest.request

        def request(method: str, url: str, *args: Any, **kwargs: Any) -> Any:
            parts = urlsplit(url)
            watching = parse_qs(parts.query).get("watch", [""])[0].lower() == "true"
            if watching and parts.path.endswith(f"/{resource}"):
                self._sent.set()
            return send(method, url, *args, **kwargs)

        rest.request = request

    def await_first(self) -> None:
        wait_for_condition(
            self._sent.is_set, timeout=60, description="the wait to start watching", interval=0.01
        )

    @contextmanager
    def once_watching(self, action: Callable[[], object]) -> Iterator[None]:
        """Inside the block, ``action`` runs on a thread of its own as soon as the watch
        request is sent; leaving the block joins it and raises what it raised."""
        errors: list[BaseException] = []

        def run() -> None:
            try:
                self.await_first()
                action()
            except BaseException as exc:  # re-raised on the test's thread below
                errors.append(exc)

        thread = threading.Thread(target=run, name="once-watching", daemon=True)
        thread.start()
        try:
            yield
        finally:
            thread.join()  # bounded: await_first gives up after 60 s
        if errors:
            raise errors[0]


def apply_one(api: ApiClient, namespace: str, manifest: Mapping[str, Any]) -> AppliedObject:
    return apply_objects(api, [manifest], namespace=namespace)[0]
