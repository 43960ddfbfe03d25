"""Run the e2e suite in the cluster as an Indexed Job and bring one JUnit report home.

Two clocks, because they fail for different reasons: the startup timeout covers
scheduling and starting every shard's pod (a missing image or an unschedulable pod
shows up here, in seconds, with the reason); the run timeout covers the tests. The
Job is always deleted at the end, also after a failure or Ctrl-C, and the deletion is
awaited so the next run starts from nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kubernetes import client as k8s_client
from kubernetes.client.exceptions import ApiException

from testing import pins
from testing.k8s import status
from testing.k8s.apply import apply_objects
from testing.k8s.wait import wait_for_job
from testing.platform.manifests import NAMESPACE
from testing.polling import TerminalFailure, wait_for_condition
from testing.runner import RunnerError
from testing.runner.job import RunnerSettings, render_job
from testing.runner.junit import Totals, write_merged
from testing.runner.transport import decode

RESULTS_DIR = pins.REPO_ROOT / "artifacts" / "junit"
JOB_NAME_LABEL = "batch.kubernetes.io/job-name"
INDEX_LABEL = "batch.kubernetes.io/job-completion-index"
DELETE_TIMEOUT_S = 120.0
STARTED_PHASES = frozenset({"Running", "Succeeded", "Failed"})


@dataclass
class RunResult:
    totals: Totals
    report: Path
    shard_exit_codes: dict[int, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """No failure, every shard ran, and the suite ran at least one test: a run in
        which every shard collected nothing (exit 5) proves nothing and is not a pass."""
        return (
            self.totals.ok
            and self.totals.tests > 0
            and all(code in (0, 5) for code in self.shard_exit_codes.values())
        )


def _pods(api: k8s_client.ApiClient, job: str, namespace: str) -> list[dict[str, Any]]:
    core = k8s_client.CoreV1Api(api)
    try:
        listed = core.list_namespaced_pod(namespace, label_selector=f"{JOB_NAME_LABEL}={job}")
    except ApiException as exc:
        raise RunnerError(
            f"listing the pods of Job {namespace}/{job} failed: {exc.status} {exc.reason}"
        ) from None
    return [dict(api.sanitize_for_serialization(pod)) for pod in listed.items]  # type: ignore[no-untyped-call]


def wait_started(
    api: k8s_client.ApiClient, job: str, namespace: str, shards: int, *, timeout: float
) -> None:
    """Until a pod of every index has started; a pod that can never start ends it at once."""

    def started() -> bool:
        indexes: set[str] = set()
        for pod in _pods(api, job, namespace):
            failure = status.pod_failure(pod)
            if failure is not None:
                raise TerminalFailure(str(failure))
            if (pod.get("status") or {}).get("phase") in STARTED_PHASES:
                indexes.add(str(pod["metadata"]["labels"].get(INDEX_LABEL)))
        return len(indexes) >= shards

    wait_for_condition(
        started, timeout=timeout, description=f"all {shards} shard pod(s) of {job} to start"
    )


def collect(
    api: k8s_client.ApiClient, job: str, namespace: str, shards: int, out_dir: Path
) -> tuple[list[Path], dict[int, int]]:
    """Each shard's report from its succeeded pod's log, written to ``out_dir``."""
    core = k8s_client.CoreV1Api(api)
    pods = _pods(api, job, namespace)
    reports: list[Path] = []
    codes: dict[int, int] = {}
    out_dir.mkdir(parents=True, exist_ok=True)
    for shard in range(shards):
        candidates = [
            p
            for p in pods
            if p["metadata"]["labels"].get(INDEX_LABEL) == str(shard)
            and (p.get("status") or {}).get("phase") == "Succeeded"
        ]
        if not candidates:
            raise RunnerError(f"shard {shard} of Job {job} has no succeeded pod")
        pod = candidates[0]["metadata"]["name"]
        try:
            log = core.read_namespaced_pod_log(pod, namespace)
        except ApiException as exc:
            raise RunnerError(
                f"reading the log of shard {shard}'s pod {namespace}/{pod} failed: "
                f"{exc.status} {exc.reason}"
            ) from None
        codes[shard], report = decode(str(log), shard=shard)
        path = out_dir / f"shard-{shard}.xml"
        path.write_bytes(report)
        reports.append(path)
    return reports, codes


def delete_job(api: k8s_client.ApiClient, job: str, namespace: str) -> None:
    """Delete the Job and its pods, and wait until both are gone."""
    batch = k8s_client.BatchV1Api(api)
    try:
        batch.delete_namespaced_job(job, namespace, propagation_policy="Foreground")
    except ApiException as exc:
        if exc.status != 404:
            raise RunnerError(f"deleting Job {namespace}/{job} failed: {exc.reason}") from None

    def gone() -> bool:
        try:
            batch.read_namespaced_job(job, namespace)
        except ApiException as exc:
            if exc.status == 404:
                return not _pods(api, job, namespace)
            raise
        return False

    wait_for_condition(gone, timeout=DELETE_TIMEOUT_S, description=f"Job {job} to be deleted")


def run(
    api: k8s_client.ApiClient,
    settings: RunnerSettings,
    *,
    namespace: str = NAMESPACE,
    out_dir: Path = RESULTS_DIR,
    images: dict[str, str] | None = None,
) -> RunResult:
    job = render_job(settings, images=images)
    job["metadata"]["namespace"] = namespace
    name = str(job["metadata"]["name"])
    delete_job(api, name, namespace)  # a Job left by an interrupted run is immutable
    try:
        apply_objects(api, [job])
        wait_started(api, name, namespace, settings.shards, timeout=settings.startup_timeout)
        wait_for_job(api, name, namespace, timeout=settings.run_timeout)
        reports, codes = collect(api, name, namespace, settings.shards, out_dir)
        totals = write_merged(reports, out_dir / "test-runner.xml")
        return RunResult(totals, out_dir / "test-runner.xml", codes)
    finally:
        delete_job(api, name, namespace)
