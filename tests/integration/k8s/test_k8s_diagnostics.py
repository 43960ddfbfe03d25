"""Diagnostics from the real API server: events, status, and logs of EVERY container.

Pod logs of simulated pods are served by the kwok controller from files this test
writes (kwok's ``Logs`` resource), through the real API server's log endpoint.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from k8s_support import pod_manifest
from kubernetes.client import ApiClient

from testing.k8s.apply import apply_objects
from testing.k8s.diagnostics import collect
from testing.k8s.objects import ObjectRef
from testing.k8s.wait import wait_for_pod
from testing.pins import REPO_ROOT


def logs_resource(pod: str, files: dict[str, Path]) -> dict[str, Any]:
    return {
        "apiVersion": "kwok.x-k8s.io/v1alpha1",
        "kind": "Logs",
        "metadata": {"name": pod},
        "spec": {
            "logs": [
                {"containers": [container], "logsFile": str(path)}
                for container, path in files.items()
            ]
        },
    }


def write_log(path: Path, prefix: str, count: int) -> Path:
    """A container log file in the CRI format a kubelet keeps (kwok serves it as is)."""
    path.write_text(
        "".join(
            f"2026-01-01T00:00:{i % 60:02d}.000000000Z stdout F {prefix} line {i}\n"
            for i in range(1, count + 1)
        )
    )
    return path


@pytest.mark.requirement("K8S-006")
def test_collect_has_events_status_and_the_tail_of_every_container(
    k8s_client: ApiClient, namespace: str, tmp_path: Path
) -> None:
    files = {
        "app": write_log(tmp_path / "app.log", "app", 100),
        "sidecar": write_log(tmp_path / "sidecar.log", "sidecar", 30),
    }
    apply_objects(
        k8s_client,
        [logs_resource("two", files), pod_manifest("two", containers=("app", "sidecar"))],
        namespace=namespace,
    )
    wait_for_pod(k8s_client, "two", namespace, timeout=60)  # healthy: Running and Ready
    diag = collect(k8s_client, namespace, tail_lines=10)
    assert diag.log_of("two", "app").splitlines() == [f"app line {i}" for i in range(91, 101)]
    assert diag.log_of("two", "sidecar").splitlines() == [
        f"sidecar line {i}" for i in range(21, 31)
    ]
    assert any("Scheduled Pod/two" in line for line in diag.events)
    assert '"phase": "Running"' in diag.statuses["Pod two"]
    text = diag.to_text()
    assert "--- logs of pod two container sidecar\nsidecar line 21\n" in text
    written = diag.write(tmp_path / "out")
    assert written.read_text() == text


@pytest.mark.requirement("K8S-006")
def test_collect_for_objects_follows_the_workload_selector(
    k8s_client: ApiClient, namespace: str, tmp_path: Path
) -> None:
    selected = pod_manifest("picked", labels={"tier": "web"})
    ignored = pod_manifest("other")
    apply_objects(
        k8s_client,
        [
            logs_resource("picked", {"app": write_log(tmp_path / "p.log", "picked", 3)}),
            selected,
            ignored,
        ],
        namespace=namespace,
    )
    deploy = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web"},
        "spec": {
            "replicas": 0,
            "selector": {"matchLabels": {"tier": "web"}},
            "template": {"metadata": {"labels": {"tier": "web"}}, "spec": selected["spec"]},
        },
    }
    apply_objects(k8s_client, [deploy], namespace=namespace)
    wait_for_pod(k8s_client, "picked", namespace, timeout=60)
    diag = collect(
        k8s_client, namespace, objects=[ObjectRef("apps/v1", "Deployment", "web", namespace)]
    )
    assert sorted(diag.statuses) == ["Deployment web", "Pod picked"]
    assert diag.log_of("picked", "app") == "picked line 1\npicked line 2\npicked line 3\n"


INNER_FAILING_TEST = """
from pathlib import Path

from testing.k8s.apply import apply_objects
from testing.k8s.wait import wait_for_pod

POD = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "victim", "labels": {"app": "v"}},
       "spec": {"tolerations": [{"operator": "Exists"}],
                "containers": [{"name": "app", "image": "registry.invalid/app:1"}]}}


def test_planted_failure(k8s_client, namespace, tmp_path):
    log = tmp_path / "victim.log"
    log.write_text("".join(f"2026-01-01T00:00:00.000000000Z stdout F victim says {i}\\n"
                           for i in range(1, 21)))
    logs = {"apiVersion": "kwok.x-k8s.io/v1alpha1", "kind": "Logs", "metadata": {"name": "victim"},
            "spec": {"logs": [{"containers": ["app"], "logsFile": str(log)}]}}
    apply_objects(k8s_client, [logs, POD], namespace=namespace)
    wait_for_pod(k8s_client, "victim", namespace, timeout=60)
    assert namespace == "the planted failure"
"""


@pytest.mark.requirement("K8S-007")
def test_failing_test_report_carries_diagnostics_and_writes_them_for_ci(inner_pytest: Any) -> None:
    run = inner_pytest(INNER_FAILING_TEST)
    assert run.returncode == 1, run.output
    assert "1 failed" in run.output
    assert "k8s diagnostics ktp-main-1-" in run.output
    assert "--- logs of pod victim container app\n" in run.output
    assert "victim says 20" in run.output
    marker = "(also in "
    start = run.output.index(marker) + len(marker)
    written = Path(run.output[start : run.output.index(")", start)])
    try:
        assert written.is_relative_to(REPO_ROOT / "artifacts" / "diagnostics" / "tests")
        assert "victim says 20" in written.read_text()
    finally:
        written.unlink(missing_ok=True)
