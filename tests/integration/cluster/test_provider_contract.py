"""The provider contract, against a REAL control plane: kwok, and existing aimed at it.

Every provider that can reach a real API server here passes the same checks: a
project-local kubeconfig, Ready nodes, a Deployment that becomes Available, a Job
that completes, an idempotent ``create`` and exported logs.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from testing.cluster.base import ClusterProvider
from testing.cluster.kwok import KwokProvider
from testing.cluster.readiness import api_get
from testing.polling import TerminalFailure, wait_for_condition

pytestmark = pytest.mark.requirement("KWOK-002")

LABELS = {"app": "contract"}


def _nodes(api_client: Any) -> list[dict[str, Any]]:
    status, body = api_get(api_client, "/api/v1/nodes")
    assert status == 200, body
    items: list[dict[str, Any]] = json.loads(body)["items"]
    return items


def _ready(node: dict[str, Any]) -> bool:
    conditions = (node.get("status") or {}).get("conditions") or []
    return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)


def test_kubeconfig_is_project_local(contract_provider: ClusterProvider) -> None:
    kubeconfig = contract_provider.kubeconfig_path()
    assert kubeconfig == contract_provider.config.cluster_dir / "kubeconfig"
    assert kubeconfig.is_file()
    assert kubeconfig != Path.home() / ".kube" / "config"
    assert contract_provider.exists() is True
    assert contract_provider.config.name in contract_provider.status()


def test_nodes_are_ready(contract_provider: ClusterProvider, contract_api: Any) -> None:
    nodes = _nodes(contract_api)
    expected = KwokProvider.node_count
    assert len(nodes) == expected
    assert [n["metadata"]["name"] for n in nodes if _ready(n)] == [
        n["metadata"]["name"] for n in nodes
    ]


def test_wait_until_ready_on_a_ready_cluster(
    contract_provider: ClusterProvider, contract_api: Any
) -> None:
    contract_provider.wait_until_ready(timeout=30)
    assert api_get(contract_api, "/readyz", accept="text/plain") == (200, "ok")
    status, body = api_get(contract_api, "/api/v1/namespaces/default/serviceaccounts/default")
    assert status == 200
    assert json.loads(body)["metadata"]["name"] == "default"


def test_create_again_reuses_and_changes_nothing(
    contract_provider: ClusterProvider, contract_api: Any
) -> None:
    kubeconfig = contract_provider.kubeconfig_path()
    before = kubeconfig.read_bytes()
    nodes_before = sorted(n["metadata"]["uid"] for n in _nodes(contract_api))
    _, system_before = api_get(contract_api, "/api/v1/namespaces/kube-system")

    assert contract_provider.create(wait_seconds=60) == kubeconfig

    assert kubeconfig.read_bytes() == before
    assert sorted(n["metadata"]["uid"] for n in _nodes(contract_api)) == nodes_before
    _, system_after = api_get(contract_api, "/api/v1/namespaces/kube-system")
    assert (
        json.loads(system_after)["metadata"]["uid"] == json.loads(system_before)["metadata"]["uid"]
    )


def test_deployment_becomes_available(contract_api: Any, contract_namespace: str) -> None:
    apps = client.AppsV1Api(contract_api)
    container = client.V1Container(name="web", image="registry.invalid/web:1")
    apps.create_namespaced_deployment(
        contract_namespace,
        client.V1Deployment(
            metadata=client.V1ObjectMeta(name="web"),
            spec=client.V1DeploymentSpec(
                replicas=2,
                selector=client.V1LabelSelector(match_labels=LABELS),
                template=client.V1PodTemplateSpec(
                    metadata=client.V1ObjectMeta(labels=LABELS),
                    spec=client.V1PodSpec(containers=[container]),
                ),
            ),
        ),
    )

    def available() -> bool:
        status = apps.read_namespaced_deployment_status("web", contract_namespace).status
        conditions = {c.type: c for c in status.conditions or []}
        if "ReplicaFailure" in conditions and conditions["ReplicaFailure"].status == "True":
            raise TerminalFailure(conditions["ReplicaFailure"].message)
        return (
            conditions.get("Available") is not None
            and conditions["Available"].status == "True"
            and status.available_replicas == 2
        )

    wait_for_condition(available, timeout=90, description="Deployment web Available")
    pods = client.CoreV1Api(contract_api).list_namespaced_pod(
        contract_namespace, label_selector="app=contract"
    )
    assert sorted(p.status.phase for p in pods.items) == ["Running", "Running"]
    assert all(p.spec.node_name for p in pods.items)


def test_job_completes(contract_api: Any, contract_namespace: str) -> None:
    batch = client.BatchV1Api(contract_api)
    container = client.V1Container(name="task", image="registry.invalid/task:1", command=["true"])
    batch.create_namespaced_job(
        contract_namespace,
        client.V1Job(
            metadata=client.V1ObjectMeta(name="task"),
            spec=client.V1JobSpec(
                backoff_limit=0,
                template=client.V1PodTemplateSpec(
                    spec=client.V1PodSpec(containers=[container], restart_policy="Never")
                ),
            ),
        ),
    )

    def complete() -> bool:
        status = batch.read_namespaced_job_status("task", contract_namespace).status
        for condition in status.conditions or []:
            if condition.type == "Failed" and condition.status == "True":
                raise TerminalFailure(f"job failed: {condition.reason}: {condition.message}")
        return any(c.type == "Complete" and c.status == "True" for c in status.conditions or [])

    wait_for_condition(complete, timeout=90, description="Job task Complete")
    status = batch.read_namespaced_job_status("task", contract_namespace).status
    assert status.succeeded == 1
    assert status.failed in (None, 0)


def test_export_logs_writes_real_logs(contract_provider: ClusterProvider, tmp_path: Path) -> None:
    destination = tmp_path / "logs"
    assert contract_provider.export_logs(destination) == destination
    files = [p for p in destination.rglob("*") if p.is_file() and p.stat().st_size > 0]
    assert files, f"no non-empty file under {destination}"
    text = "\n".join(p.read_text(errors="replace") for p in files)
    assert "kube-apiserver" in text or "kube-system" in text
