"""A refused delete of a failed Job is one PlatformError line, not an ApiException traceback.

The Batch API is a stub: a real API server that lets a client read a Job but
refuses to delete it needs RBAC and a second identity, more than a unit test holds.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from kubernetes import client as k8s_client
from kubernetes.client.exceptions import ApiException

from testing.platform import PlatformError, deploy

FAILED_JOB = k8s_client.V1Job(
    status=k8s_client.V1JobStatus(
        conditions=[k8s_client.V1JobCondition(type="Failed", status="True")]
    )
)


class RefusingBatch:
    def __init__(self, api: Any) -> None:
        pass

    def read_namespaced_job(self, name: str, namespace: str) -> k8s_client.V1Job:
        return FAILED_JOB

    def delete_namespaced_job(self, name: str, namespace: str, **_: Any) -> None:
        raise ApiException(status=403, reason="Forbidden")


def test_refused_delete_is_a_platform_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(deploy.k8s_client, "BatchV1Api", RefusingBatch)
    deployer = deploy.Deployer(
        k8s_client.ApiClient(), runs_containers=False, images={}, diagnostics_dir=tmp_path
    )
    job = {"kind": "Job", "metadata": {"name": "db-init"}}
    with pytest.raises(PlatformError) as info:
        deployer._reset_failed_jobs([job])
    assert str(info.value) == "deleting failed Job db-init failed: 403 Forbidden"
