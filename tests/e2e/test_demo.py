"""The demo on a cluster that runs containers: what the in-cluster Jobs wrote, the dashboard
served through its NodePort where the provider publishes it (kind: host 8080 -> NodePort
30080; local: the node address, port 30080), and the content
scenarios against the in-cluster PostgreSQL and MinIO (reached by the ``postgres``/``s3``
fixtures' port-forwards).

The assertion functions are the ones tests/integration/demo runs against local servers.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from tests.e2e import dashboard_check as dash
from tests.e2e import demo_content as content

PRODUCTS = {
    "customer-360": "customer_360",
    "iot-telemetry": "iot_telemetry",
    "financial-risk": "financial_risk",
}
#: Where the platform's init jobs put the demo's catalog and data (k8s/platform).
CLUSTER_CATALOG_DB = "iceberg_catalog"
CLUSTER_BUCKET = "warehouse"
DASHBOARD_NODE_PORT = 30080


@pytest.fixture
def dashboard_url(request: pytest.FixtureRequest) -> str:
    """``DEMO_DASHBOARD_URL`` (the in-cluster runner sets the Service's address), else where
    the provider publishes the dashboard's NodePort on the host."""
    explicit = os.environ.get("DEMO_DASHBOARD_URL")
    if explicit:
        return explicit
    cluster = request.getfixturevalue("cluster")
    return f"{cluster.dashboard_url(DASHBOARD_NODE_PORT)}/"


@pytest.fixture
def cluster_settings(postgres_admin: Any, s3_admin: Any) -> Any:
    """The catalog and bucket the in-cluster demo Jobs wrote (read only by these tests)."""
    return content.settings_for(
        postgres_admin.with_database(CLUSTER_CATALOG_DB), s3_admin.with_bucket(CLUSTER_BUCKET)
    )


@pytest.fixture
def settings(postgres: Any, s3: Any) -> Any:
    """A fresh database and bucket on the in-cluster services, for scenarios that write."""
    return content.settings_for(postgres, s3, DEMO_SEED_SCALE=1500, DEMO_SEED=7)


@pytest.mark.requirement("DEMO-008", "DEMO-001", "DEMO-002", "DEMO-003")
@pytest.mark.parametrize("product", sorted(PRODUCTS))
def test_cluster_job_output_matches_its_seed(cluster_settings: Any, product: str) -> None:
    content.check_recorded_run(cluster_settings, product, PRODUCTS[product])


@pytest.mark.requirement("DEMO-007")
def test_cluster_dashboard_shows_catalog_numbers(
    cluster_settings: Any, dashboard_url: str, tmp_path: Path
) -> None:
    dash.assert_dashboard_matches_catalog(
        dashboard_url, content.catalog(cluster_settings), PRODUCTS, tmp_path / "dashboard.png"
    )


@pytest.mark.requirement("DEMO-001", "DEMO-002", "DEMO-003")
@pytest.mark.parametrize("product", sorted(PRODUCTS))
def test_product_content_reconciles_with_seed(settings: Any, product: str) -> None:
    content.check_product_content(settings, product)


@pytest.mark.requirement("DEMO-004", "DEMO-005")
def test_schema_change_keeps_old_queries_and_time_travel(settings: Any) -> None:
    content.check_schema_change_and_time_travel(settings)


@pytest.mark.requirement("DEMO-006")
def test_expiry_removes_old_snapshots_and_their_files(settings: Any) -> None:
    content.check_expiry(settings)
