"""Deploy's health table on real pods: each row is a protocol answer from what really runs.

The platform here was deployed by ``nox -s deploy``: its init Jobs really ran, and this
test creates no database, bucket or stand-in. Deploying again must change nothing and
report every service healthy by its protocol (a PostgreSQL query that finds the init
Job's databases, MinIO's readiness and bucket listing, the real dashboard's
``/healthz``); what the init Jobs made is then confirmed independently through the
admin fixtures. A wrong answer (a database nobody made, a rejected password) ends
deploy's check on its first attempt.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from kubernetes import client as k8s_client
from pydantic import SecretStr

from testing.platform import health
from testing.platform.credentials import Credential, ensure_credentials
from testing.platform.deploy import DASHBOARD_NODE_PORT, Deployer
from testing.platform.manifests import NAMESPACE, image_map
from testing.polling import ConditionFailedError
from testing.services import postgres as pg
from testing.services import s3

pytestmark = [pytest.mark.from_host, pytest.mark.requirement("DEP-010")]


def _generations(api: Any) -> dict[str, int]:
    apps = k8s_client.AppsV1Api(api)
    found = {
        f"statefulset/{s.metadata.name}": s.metadata.generation
        for s in apps.list_namespaced_stateful_set(NAMESPACE).items
    }
    found |= {
        f"deployment/{d.metadata.name}": d.metadata.generation
        for d in apps.list_namespaced_deployment(NAMESPACE).items
    }
    return found


def test_redeploy_on_real_pods_reports_what_protocol_checks_saw(
    api_client: Any, cluster: Any, tmp_path: Path
) -> None:
    before = _generations(api_client)
    result = Deployer(
        api_client,
        runs_containers=cluster.runs_containers,
        stage_timeout=120,
        images=image_map(),
        dashboard_url=cluster.dashboard_url(DASHBOARD_NODE_PORT),
        diagnostics_dir=tmp_path / "diagnostics",
    ).run()

    assert cluster.runs_containers
    assert [(r.service, r.endpoint, r.checked) for r in result.rows] == [
        ("postgres", f"postgres.{NAMESPACE}.svc:5432", True),
        ("minio", f"http://minio.{NAMESPACE}.svc:9000", True),
        ("databases", "iceberg_catalog, demo", True),
        ("buckets", "s3://warehouse, s3://staging", True),
        ("dashboard", cluster.dashboard_url(DASHBOARD_NODE_PORT), True),
    ]
    assert _generations(api_client) == before  # nothing rolled out again


def test_what_the_init_jobs_made_is_there(postgres_admin: Any, s3_admin: Any) -> None:
    with pg.connect(postgres_admin) as conn:
        names = {row[0] for row in conn.execute("SELECT datname FROM pg_database").fetchall()}
    assert set(health.DATABASES) <= names
    buckets = {b["Name"] for b in s3.client(s3_admin).list_buckets().get("Buckets", [])}
    assert set(health.BUCKETS) <= buckets


def _check(api: Any, postgres: Credential, databases: tuple[str, ...]) -> ConditionFailedError:
    with pytest.raises(ConditionFailedError) as caught:
        health.wait_healthy(
            api,
            NAMESPACE,
            "postgres",
            5432,
            health.postgres_query(postgres, databases),
            timeout=60,
        )
    return caught.value


def test_a_wrong_answer_ends_the_check_on_its_first_attempt(api_client: Any) -> None:
    postgres = ensure_credentials(api_client, NAMESPACE)["postgres-credentials"]
    missing = _check(api_client, postgres, ("demo", "no_such_database"))
    assert missing.attempts == 1
    assert missing.reason == (
        "postgres answered but is not healthy: databases missing: no_such_database"
    )
    wrong = Credential(
        secret_name=postgres.secret_name,
        values={**postgres.values, "password": SecretStr("not-the-password")},
    )
    refused = _check(api_client, wrong, ())
    assert refused.attempts == 1
    assert refused.reason.startswith("postgres rejects the credentials in its Secret: ")
    assert "password authentication failed" in refused.reason
