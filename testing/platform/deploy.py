"""Deploy the platform: credentials, ordered apply, waits, protocol checks, a summary.

Stages run in dependency order (see :data:`testing.platform.manifests.STAGES`); the
components of one stage are awaited concurrently, so each row's time is its own.
Everything is idempotent: Secrets that exist are kept, server-side apply of unchanged
manifests is a no-op, and waits on healthy objects return at once, so a second deploy
changes nothing and finishes in seconds. A component that cannot become healthy ends
the deploy with one line naming it and the reason, and its diagnostics on disk.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kubernetes import client as k8s_client
from kubernetes.client.exceptions import ApiException

from testing import images, pins
from testing.cluster import ClusterError, ClusterProvider
from testing.k8s import diagnostics
from testing.k8s.apply import apply_objects
from testing.k8s.client import clone
from testing.k8s.objects import AppliedObject, K8sError, ObjectRef
from testing.k8s.wait import wait_for_ready
from testing.platform import PlatformError, health
from testing.platform.credentials import Credential, ensure_credentials
from testing.platform.manifests import (
    NAMESPACE,
    PLATFORM_DIR,
    STAGES,
    Stage,
    image_map,
    image_source,
    stage_objects,
)
from testing.platform.volumes import ensure_simulated_volumes
from testing.polling import ConditionFailedError, WaitTimeoutError, wait_for_condition

DASHBOARD_NODE_PORT = 30080
#: What deploy loads into the nodes before the first stage.
PLATFORM_IMAGES = ("postgres", "minio", "minio-mc", "demo")
DIAGNOSTICS_DIR = pins.REPO_ROOT / "artifacts" / "diagnostics" / "platform"

CheckFactory = Callable[[Mapping[str, Credential]], health.Check]


@dataclass(frozen=True)
class Component:
    """One row of the summary: the object that must be ready and how to check it."""

    name: str
    stage: str
    kind: str
    object_name: str
    #: Shown in the summary; ``{ns}`` is replaced by the namespace.
    endpoint: str
    #: Service to forward to, its port, and the protocol check (given the credentials).
    probe: tuple[str, int, CheckFactory] | None = None


def _postgres(c: Mapping[str, Credential]) -> health.Check:
    return health.postgres_query(c["postgres-credentials"])


def _databases(c: Mapping[str, Credential]) -> health.Check:
    return health.postgres_query(c["postgres-credentials"], health.DATABASES)


def _minio(c: Mapping[str, Credential]) -> health.Check:
    return health.http_ok("/minio/health/ready")


def _buckets(c: Mapping[str, Credential]) -> health.Check:
    return health.minio_buckets(c["minio-credentials"])


def _dashboard(c: Mapping[str, Credential]) -> health.Check:
    return health.http_ok("/healthz")


COMPONENTS: tuple[Component, ...] = (
    Component("postgres", "services", "StatefulSet", "postgres",
              "postgres.{ns}.svc:5432", ("postgres", 5432, _postgres)),
    Component("minio", "services", "StatefulSet", "minio",
              "http://minio.{ns}.svc:9000", ("minio", 9000, _minio)),
    Component("databases", "init", "Job", "postgres-init",
              "iceberg_catalog, demo", ("postgres", 5432, _databases)),
    Component("buckets", "init", "Job", "minio-init",
              "s3://warehouse, s3://staging", ("minio", 9000, _buckets)),
    Component("dashboard", "dashboard", "Deployment", "dashboard",
              "http://dashboard.{ns}.svc:8080", ("dashboard", 8080, _dashboard)),
)  # fmt: skip


@dataclass(frozen=True)
class Row:
    service: str
    endpoint: str
    seconds: float
    #: Whether the service answered its protocol check (False: only API readiness, on
    #: simulated nodes where no process runs behind the pods).
    checked: bool = True


@dataclass
class DeployResult:
    rows: list[Row] = field(default_factory=list)
    applied: list[AppliedObject] = field(default_factory=list)
    seconds: float = 0.0


def ensure_images(provider: ClusterProvider, keys: Sequence[str] = PLATFORM_IMAGES) -> str:
    """Make the platform's images available to ``provider``'s nodes; return the source used.

    Built archives are loaded into the nodes; Docker-built images (pinned source) are
    loaded from the local Docker; pinned service images are pulled by the node itself.
    """
    choice = image_source()
    print(f"images: {choice.source} ({choice.reason})", flush=True)
    try:
        available = images.ensure(keys, choice.source)
    except images.ImageError as exc:
        raise PlatformError(str(exc)) from None
    for key, archive in available.items():
        if archive is not None:
            provider.load_image_archive(archive)
        elif key in images.DOCKER_BUILT:
            provider.load_image(images.reference(key, choice.source))
    return choice.source


class Deployer:
    """Runs the stages against one cluster; ``runs_containers`` picks the health depth:
    API-level readiness only, or protocol checks through port-forwards as well."""

    def __init__(
        self,
        api: k8s_client.ApiClient,
        *,
        runs_containers: bool,
        stage_timeout: float = 300.0,
        namespace: str = NAMESPACE,
        directory: Path = PLATFORM_DIR,
        stages: Sequence[Stage] = STAGES,
        components: Sequence[Component] = COMPONENTS,
        before_stage: Callable[[str], None] | None = None,
        diagnostics_dir: Path = DIAGNOSTICS_DIR,
        images: Mapping[str, str] | None = None,
        simulated_volumes: bool | None = None,
        dashboard_url: str = "http://127.0.0.1:8080",
    ) -> None:
        #: Where the host reaches the dashboard's NodePort (the provider knows).
        self.dashboard_url = dashboard_url
        self.api = api
        self.runs_containers = runs_containers
        #: Pre-bound volumes for simulated nodes; by default exactly when no container runs.
        self.simulated_volumes = (
            not runs_containers if simulated_volumes is None else simulated_volumes
        )
        self.stage_timeout = stage_timeout
        self.namespace = namespace
        self.directory = directory
        self.stages = stages
        self.components = components
        self.before_stage = before_stage
        self.diagnostics_dir = diagnostics_dir
        self.images = dict(image_map() if images is None else images)

    def run(self) -> DeployResult:
        result = DeployResult()
        start = time.monotonic()
        credentials: dict[str, Credential] = {}
        for stage in self.stages:
            if self.before_stage is not None:
                self.before_stage(stage.name)
            objects = stage_objects(
                stage, directory=self.directory, images=self.images, namespace=self.namespace
            )
            if stage.name == "services" and self.simulated_volumes:
                ensure_simulated_volumes(self.api, objects)
            self._reset_failed_jobs(objects)
            result.applied += self._apply(stage, objects)
            if stage.name == "base":
                credentials = ensure_credentials(self.api, self.namespace)
            result.rows += self._await(stage, credentials, start)
        result.seconds = time.monotonic() - start
        return result

    def _apply(self, stage: Stage, objects: Sequence[Mapping[str, Any]]) -> list[AppliedObject]:
        try:
            return apply_objects(self.api, objects)
        except K8sError as exc:
            raise PlatformError(f"applying stage {stage.name!r} failed: {exc}") from None

    def _reset_failed_jobs(self, objects: Sequence[Mapping[str, Any]]) -> None:
        """Delete Jobs of ``objects`` that failed before, so the apply starts them afresh.

        A Job's pod template is immutable and a Failed Job never runs again: without this
        a deploy that failed once (say, MinIO was slow) could never succeed on a retry.
        """
        batch = k8s_client.BatchV1Api(self.api)
        for obj in objects:
            if obj.get("kind") != "Job":
                continue
            name = str(obj["metadata"]["name"])
            try:
                job = batch.read_namespaced_job(name, self.namespace)
            except ApiException as exc:
                if exc.status == 404:
                    continue
                raise PlatformError(
                    f"reading Job {name} failed: {exc.status} {exc.reason}"
                ) from None
            conditions = (job.status.conditions if job.status else None) or []
            if any(c.type == "Failed" and c.status == "True" for c in conditions):
                try:
                    batch.delete_namespaced_job(
                        name, self.namespace, propagation_policy="Foreground"
                    )
                except ApiException as exc:
                    if exc.status != 404:
                        raise PlatformError(
                            f"deleting failed Job {name} failed: {exc.status} {exc.reason}"
                        ) from None
                wait_for_condition(
                    functools.partial(self._job_gone, name),
                    timeout=self.stage_timeout,
                    description=f"failed Job {name} to be deleted",
                )

    def _job_gone(self, name: str) -> bool:
        try:
            k8s_client.BatchV1Api(self.api).read_namespaced_job(name, self.namespace)
        except ApiException as exc:
            if exc.status == 404:
                return True
            raise
        return False

    def _await(
        self, stage: Stage, credentials: Mapping[str, Credential], start: float
    ) -> list[Row]:
        members = [c for c in self.components if c.stage == stage.name]
        if not members:
            return []
        with ThreadPoolExecutor(max_workers=len(members)) as pool:
            futures = {c.name: pool.submit(self._await_one, c, credentials) for c in members}
            outcomes = {name: _outcome(future.result) for name, future in futures.items()}
        failures = [(name, err) for name, (_, err) in outcomes.items() if err is not None]
        if failures:
            name, error = failures[0]
            where = self.write_diagnostics()
            raise PlatformError(f"{name} did not become healthy: {error} (diagnostics: {where})")
        return [
            Row(
                c.name,
                self._endpoint(c),
                (outcomes[c.name][0] or start) - start,
                checked=self.runs_containers and c.probe is not None,
            )
            for c in members
        ]

    def _await_one(self, component: Component, credentials: Mapping[str, Credential]) -> float:
        """Wait for ``component``; return the monotonic time at which it was healthy."""
        api = clone(self.api)  # one client per thread: the watches must not share a pool
        deadline = time.monotonic() + self.stage_timeout
        api_version = "batch/v1" if component.kind == "Job" else "apps/v1"
        ref = ObjectRef(api_version, component.kind, component.object_name, self.namespace)
        wait_for_ready(api, [ref], timeout=self.stage_timeout)
        if self.runs_containers and component.probe is not None:
            service, port, factory = component.probe
            remaining = max(deadline - time.monotonic(), 1.0)
            health.wait_healthy(
                api, self.namespace, service, port, factory(credentials), timeout=remaining
            )
        return time.monotonic()

    def _endpoint(self, component: Component) -> str:
        if component.name == "dashboard" and self.runs_containers:
            return self.dashboard_url
        if component.kind == "Job" and not self.runs_containers:
            # What an init Job makes exists only if its container ran: claim nothing.
            return f"none made: Job {component.object_name} completed without a container"
        return component.endpoint.format(ns=self.namespace)

    def write_diagnostics(self) -> Path:
        """Events, statuses and every container's log tail of the namespace, as one file."""
        return diagnostics.collect(self.api, self.namespace).write(self.diagnostics_dir)


_EXPECTED = (
    K8sError,
    WaitTimeoutError,
    ConditionFailedError,
    health.UnhealthyError,
    ClusterError,
    PlatformError,
    ApiException,
)


def _outcome(get: Callable[[], float]) -> tuple[float | None, str | None]:
    try:
        return get(), None
    except _EXPECTED as exc:
        return None, str(exc).splitlines()[0] if str(exc) else type(exc).__name__


def table(rows: Sequence[Row], total: float) -> str:
    """The summary: service | endpoint | time to healthy (seconds since deploy started)."""
    headers = ("service", "endpoint", "time to healthy")
    cells = [(r.service, r.endpoint, f"{r.seconds:.1f}s") for r in rows]
    widths = [max(len(h), *(len(c[i]) for c in cells)) for i, h in enumerate(headers)]

    def line(values: Sequence[str]) -> str:
        return " | ".join(v.ljust(w) for v, w in zip(values, widths, strict=True)).rstrip()

    out = [line(headers), "-+-".join("-" * w for w in widths)]
    out += [line(c) for c in cells]
    if all(r.checked for r in rows):
        out.append(f"all services healthy in {total:.1f}s")
    else:
        out.append(
            f"all objects ready in {total:.1f}s; no protocol was checked "
            "(simulated nodes: nothing runs behind the pods)"
        )
    return "\n".join(out)
