"""The demo's content, checked against real local PostgreSQL (catalog) and S3 (data files).

The same assertion functions run in tests/e2e against the in-cluster platform.
"""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

import pytest

from tests.e2e import demo_content as content
from tests.e2e.dashboard_check import settings_env

SCALE = 1500
SEED = 7


@pytest.fixture
def settings(postgres: Any, s3: Any) -> Any:
    """A fresh catalog database and bucket per test, so runs never see each other's history."""
    return content.settings_for(postgres, s3, DEMO_SEED_SCALE=SCALE, DEMO_SEED=SEED)


@pytest.mark.requirement("DEMO-001", "DEMO-002", "DEMO-003")
@pytest.mark.parametrize("product", ["customer-360", "iot-telemetry", "financial-risk"])
def test_product_content_reconciles_with_seed(settings: Any, product: str) -> None:
    """Gold equals a recomputation from the seed; bronze = silver + quarantine = dirty rows."""
    content.check_product_content(settings, product)


@pytest.mark.requirement("DEMO-004", "DEMO-005")
def test_schema_change_keeps_old_queries_and_time_travel(settings: Any) -> None:
    content.check_schema_change_and_time_travel(settings)


@pytest.mark.requirement("DEMO-006")
def test_expiry_removes_old_snapshots_and_their_files(settings: Any) -> None:
    content.check_expiry(settings)


@pytest.mark.requirement("DEMO-008")
def test_cli_run_records_a_run_the_checker_can_verify(settings: Any) -> None:
    """``python -m demo run`` in a child process, checked the way e2e checks the cluster Jobs."""
    env = {**os.environ, **settings_env(settings), "DEMO_SEED_SCALE": "700", "DEMO_SEED": "3"}
    done = subprocess.run(
        [sys.executable, "-m", "demo", "run", "--product", "financial-risk"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "[financial-risk] silver done in" in done.stderr
    assert done.stdout.splitlines()[0].split() == ["product", "table", "rows", "snapshot"]
    content.check_recorded_run(settings, "financial-risk", "financial_risk")
