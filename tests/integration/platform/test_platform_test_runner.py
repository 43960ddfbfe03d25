"""The in-cluster test runner's Job lifecycle on a real API server.

kwok runs no container, so the shard pods cannot run pytest themselves. What can be
real is: the rendered Indexed Job, its N pods with their completion indexes, the two
waits, reading every pod's log through the API, decoding, merging and deleting the
Job. The logs are the part that is staged: real pytest shards run here through the
same entry point the pods use (``python -m testing.runner shard``), and kwok serves
each shard's own output as the log of that shard's pod only (a ``Logs`` object named
after the pod, made as soon as the pod exists, before it can run). A ``collect()``
that read one pod's log for every shard would find no report of the others.
"""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from kubernetes import client as kube
from kubernetes import watch
from kubernetes.client.exceptions import ApiException

from testing.cluster import ClusterProvider
from testing.platform.deploy import Deployer
from testing.platform.volumes import delete_simulated_volumes
from testing.runner.job import RunnerSettings
from testing.runner.run import INDEX_LABEL, JOB_NAME_LABEL, run

SHARDS = 3
SUITE = """
import pytest

def square(n):
    return n * n

@pytest.mark.parametrize("n", range(8))
def test_square(n):
    assert square(n) == n ** 2

def test_wrong():
    assert square(3) == 10
"""


@pytest.fixture
def platform_namespace(
    namespace_factory: Callable[[str], str], api_client: kube.ApiClient, tmp_path: Path
) -> Iterator[str]:
    name = namespace_factory("runner")
    yield name
    delete_simulated_volumes(api_client, name)


def _cri_lines(text: str) -> str:
    """``text`` in the CRI container-log format a kubelet keeps (and kwok serves)."""
    stamp = "2026-01-01T00:00:00.000000000Z"
    return "".join(f"{stamp} stdout F {line}\n" for line in text.splitlines())


def _shard_logs(tmp_path: Path) -> dict[str, Path]:
    """Each shard's real output, in its own container log file, by completion index."""
    suite = tmp_path / "suite"
    suite.mkdir()
    (suite / "test_generated.py").write_text(SUITE)
    logs = {}
    for shard in range(SHARDS):
        env = {
            "JOB_COMPLETION_INDEX": str(shard),
            "TEST_SHARDS": str(SHARDS),
            "TEST_RUNNER_SUITE": str(suite),
            "PATH": "/usr/bin:/bin",
            "HOME": str(tmp_path),
        }
        done = subprocess.run(
            [sys.executable, "-m", "testing.runner", "shard"],
            capture_output=True, text=True, timeout=120, env=env, cwd=suite, check=True,
        )  # fmt: skip
        logs[str(shard)] = tmp_path / f"shard-{shard}.log"
        logs[str(shard)].write_text(_cri_lines(done.stdout))
    return logs


class PerPodLogs:
    """Watches the runner's pods and gives each, when it appears, its own shard's log."""

    def __init__(self, api: kube.ApiClient, namespace: str, logs: dict[str, Path]) -> None:
        self.api, self.namespace, self.logs = api, namespace, logs
        self.served: dict[str, str] = {}  # pod name -> completion index
        self.errors: list[str] = []
        self._watch = watch.Watch()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def _serve(self) -> None:
        try:
            self._serve_events()
        except Exception as exc:  # a watch cut by __exit__ is the normal end
            if not self._stopping.is_set():
                self.errors.append(f"watching pods: {type(exc).__name__}: {exc}")

    def _serve_events(self) -> None:
        core, custom = kube.CoreV1Api(self.api), kube.CustomObjectsApi(self.api)
        stream = self._watch.stream(
            core.list_namespaced_pod,
            self.namespace,
            label_selector=JOB_NAME_LABEL,
            timeout_seconds=300,
        )
        for event in stream:
            pod = event["object"]
            name, index = pod.metadata.name, (pod.metadata.labels or {}).get(INDEX_LABEL)
            if event["type"] != "ADDED" or name in self.served or index not in self.logs:
                continue
            body = {
                "apiVersion": "kwok.x-k8s.io/v1alpha1",
                "kind": "Logs",
                "metadata": {"name": name, "namespace": self.namespace},
                "spec": {"logs": [{"containers": ["pytest"], "logsFile": str(self.logs[index])}]},
            }
            try:
                custom.create_namespaced_custom_object(
                    "kwok.x-k8s.io", "v1alpha1", self.namespace, "logs", body
                )
            except ApiException as exc:
                self.errors.append(f"Logs for {name}: {exc.status} {exc.reason}")
            self.served[name] = index

    def __enter__(self) -> PerPodLogs:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stopping.set()
        self._watch.stop()  # shuts the open response down, so the thread ends now
        self._thread.join(timeout=30)


@pytest.fixture
def served_logs(
    api_client: kube.ApiClient, platform_namespace: str, tmp_path: Path
) -> Iterator[PerPodLogs]:
    with PerPodLogs(api_client, platform_namespace, _shard_logs(tmp_path)) as serving:
        yield serving


@pytest.mark.requirement("DEP-008")
def test_runner_runs_n_shards_merges_their_reports_and_removes_the_job(
    api_client: kube.ApiClient,
    cluster: ClusterProvider,
    platform_namespace: str,
    served_logs: PerPodLogs,
    tmp_path: Path,
) -> None:
    Deployer(
        api_client, runs_containers=cluster.runs_containers, namespace=platform_namespace,
        stage_timeout=120, diagnostics_dir=tmp_path / "diagnostics",
    ).run()  # fmt: skip
    out = tmp_path / "junit"

    result = run(
        api_client,
        RunnerSettings(shards=SHARDS, startup_timeout=60, run_timeout=120),
        namespace=platform_namespace,
        out_dir=out,
        images={"ktp-tests:dev": "ktp-tests:dev"},
    )

    # Every pod of the Job got its own shard's log, and only that.
    assert served_logs.errors == []
    assert sorted(served_logs.served.values()) == ["0", "1", "2"]
    totals = result.totals
    assert (totals.tests, totals.failures, totals.errors, totals.skipped) == (9, 1, 0, 0)
    assert not result.ok
    assert sorted(result.shard_exit_codes) == [0, 1, 2]
    assert sorted(result.shard_exit_codes.values()) == [0, 0, 1]
    assert sorted(p.name for p in out.iterdir()) == [
        "shard-0.xml",
        "shard-1.xml",
        "shard-2.xml",
        "test-runner.xml",
    ]
    # The Job and its pods are gone afterwards.
    with pytest.raises(ApiException) as missing:
        kube.BatchV1Api(api_client).read_namespaced_job("test-runner", platform_namespace)
    assert missing.value.status == 404
    pods = kube.CoreV1Api(api_client).list_namespaced_pod(
        platform_namespace, label_selector=f"{JOB_NAME_LABEL}=test-runner"
    )
    assert pods.items == []
