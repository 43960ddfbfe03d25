"""The in-cluster test runner's Job lifecycle on a real API server.

kwok runs no container, so the shard pods cannot run pytest themselves. What can be
real is: the rendered Indexed Job, its N pods with their completion indexes, the two
waits, reading every pod's log through the API, decoding, merging and deleting the
Job. The logs are the part that is staged: real pytest shards run here through the
same entry point the pods use (``python -m testing.runner shard``), and kwok serves
their combined output as the pods' container log (a ``ClusterLogs`` object).
"""

from __future__ import annotations

import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from kubernetes import client as kube
from kubernetes.client.exceptions import ApiException

from testing.cluster import ClusterProvider
from testing.platform.deploy import Deployer
from testing.platform.volumes import delete_simulated_volumes
from testing.runner.job import RunnerSettings
from testing.runner.run import JOB_NAME_LABEL, run

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


def _shard_logs(tmp_path: Path) -> Path:
    """Every shard's real output, one after the other, as one container log file."""
    suite = tmp_path / "suite"
    suite.mkdir()
    (suite / "test_generated.py").write_text(SUITE)
    log = tmp_path / "shards.log"
    with log.open("w") as out:
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
            out.write(_cri_lines(done.stdout))
    return log


@pytest.fixture
def served_logs(
    api_client: kube.ApiClient, platform_namespace: str, tmp_path: Path
) -> Iterator[Path]:
    log = _shard_logs(tmp_path)
    custom = kube.CustomObjectsApi(api_client)
    name = f"ktp-runner-{uuid.uuid4().hex[:8]}"
    body = {
        "apiVersion": "kwok.x-k8s.io/v1alpha1",
        "kind": "ClusterLogs",
        "metadata": {"name": name},
        "spec": {
            "selector": {"matchNamespaces": [platform_namespace]},
            "logs": [{"containers": ["pytest"], "logsFile": str(log)}],
        },
    }
    custom.create_cluster_custom_object("kwok.x-k8s.io", "v1alpha1", "clusterlogs", body)
    yield log
    custom.delete_cluster_custom_object("kwok.x-k8s.io", "v1alpha1", "clusterlogs", name)


@pytest.mark.requirement("DEP-008")
def test_runner_runs_n_shards_merges_their_reports_and_removes_the_job(
    api_client: kube.ApiClient,
    cluster: ClusterProvider,
    platform_namespace: str,
    served_logs: Path,
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
