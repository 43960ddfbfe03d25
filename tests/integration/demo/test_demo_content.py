"""The demo's content, checked against real local PostgreSQL (catalog) and S3 (data files).

The same assertion functions run in tests/e2e against the in-cluster platform.
"""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

import pytest

from demo import pipeline
from demo.products import PRODUCTS
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


def _history(settings: Any, namespace: str) -> dict[str, tuple[int, int]]:
    """Per table: (commits, snapshots). A commit is one new metadata file (Iceberg's
    metadata log grows by one); gold's overwrite is one commit holding two snapshots, a
    delete and an append, so it is the commit that counts as "one"."""
    cat = content.catalog(settings)
    history = {}
    for ident in cat.list_tables(namespace):
        metadata = cat.load_table(ident).metadata
        history[".".join(ident)] = (len(metadata.metadata_log), len(metadata.snapshots))
    return history


@pytest.mark.requirement("DEMO-011")
def test_a_run_interrupted_before_gold_and_retried_with_its_id_leaves_each_row_once(
    settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The interruption is planted in-process: the gold step raises once, after bronze,
    silver, quarantine and the quality results were committed (what a Job's killed pod
    leaves). The retry carries the same run id, as a Job's next pod does; it must replace
    what the first attempt wrote, not add to it."""
    product = "customer-360"

    def dies_before_gold(self: object) -> None:
        raise RuntimeError("planted: the pod died before gold")

    with monkeypatch.context() as planted:
        planted.setattr(pipeline._Layers, "gold", dies_before_gold)
        with pytest.raises(RuntimeError, match="planted"):
            content.run(settings, product, run_id="job-uid-1")
    # The interrupted attempt did commit: the retry has rows of its run id to replace.
    interrupted = content.catalog(settings)
    spec = PRODUCTS[product]
    bronze = content.rows_of(interrupted.load_table(f"{spec.namespace}.bronze_orders"), "job-uid-1")
    seed = spec.generate(settings.scale, settings.seed, spec.latest_revision)
    assert len(bronze) == len(seed.tables["orders"])
    result = content.run(settings, product, run_id="job-uid-1")
    assert result.run_id == "job-uid-1"
    where = content.run_of(result)
    cat = content.catalog(settings)
    content.assert_each_row_once(cat, **where)
    content.assert_dirty_rows_quarantined(cat, **where)
    content.assert_gold_matches_seed(cat, **where)


@pytest.mark.requirement("DEMO-012")
@pytest.mark.parametrize("product", ["customer-360", "iot-telemetry", "financial-risk"])
def test_a_second_run_adds_one_commit_per_table_and_the_same_gold(
    settings: Any, product: str
) -> None:
    """Two runs: every table gains exactly one commit (one snapshot, except gold's
    overwrite, which is a delete and an append in that one commit), gold holds only the
    second run's rows and they equal the recomputation from the seed, and each run's rows
    are there once."""
    first = content.run(settings, product)
    before = _history(settings, first.namespace)
    second = content.run(settings, product)
    after = _history(settings, first.namespace)
    assert set(after) == set(before)
    assert {t: after[t][0] - before[t][0] for t in after} == dict.fromkeys(after, 1)
    added = {t: after[t][1] - before[t][1] for t in after}
    assert added == {t: 2 if ".gold_" in t else 1 for t in after}
    cat = content.catalog(settings)
    for run in (first, second):
        content.assert_each_row_once(cat, **content.run_of(run))
    for table in PRODUCTS[product].gold:
        gold = content.rows_of(cat.load_table(f"{first.namespace}.gold_{table.name}"))
        assert {r["_run_id"] for r in gold} == {second.run_id}, table.name
    content.assert_gold_matches_seed(cat, **content.run_of(second))
