"""The in-cluster Job manifests: one per product, allowed through the network policy,
hardened, and stamped with the host's DEMO_SEED_SCALE by ``python -m demo.cluster``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from demo import cluster as demo_cluster
from demo.cluster import job_objects, summary_lines
from demo.products import PRODUCTS


def test_one_job_per_product_running_that_product() -> None:
    jobs = job_objects(2500)
    assert sorted(j["metadata"]["name"] for j in jobs) == sorted(f"demo-{p}" for p in PRODUCTS)
    for job in jobs:
        pod = job["spec"]["template"]
        (container,) = pod["spec"]["containers"]
        product = job["metadata"]["name"].removeprefix("demo-")
        assert container["args"] == ["run", f"--product={product}"]
        env = {e["name"]: e for e in container["env"]}
        assert env["DEMO_SEED_SCALE"] == {"name": "DEMO_SEED_SCALE", "value": "2500"}
        assert [e["name"] for e in container["env"]].count("DEMO_SEED_SCALE") == 1
        assert "valueFrom" in env["AWS_SECRET_ACCESS_KEY"]
        assert "valueFrom" in env["POSTGRES_PASSWORD"]
        assert pod["metadata"]["labels"]["ktp.dev/role"] == "demo-job"
        assert pod["spec"]["serviceAccountName"] == "demo-job"
        assert container["imagePullPolicy"] == "Never"
        assert container["securityContext"]["readOnlyRootFilesystem"] is True
        assert pod["spec"]["securityContext"]["runAsNonRoot"] is True


def test_summary_table_aligns_columns() -> None:
    lines = summary_lines([{"product": "p", "table": "ns.t", "rows": "10", "snapshot": "123"}])
    assert lines == ["product  table  rows  snapshot", "p        ns.t   10    123"]


def test_demo_on_a_cluster_without_containers_is_one_line(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("TEST_CLUSTER_PROVIDER", "kwok")
    monkeypatch.setenv("TEST_STATE_DIR", str(tmp_path))

    assert demo_cluster.main() == 1

    err = capsys.readouterr().err.splitlines()
    assert err == [
        "error: the kwok cluster runs no containers, so the demo Jobs would do nothing: "
        "use TEST_CLUSTER_PROVIDER=kind or existing, or `python -m demo run` locally"
    ]
    assert list(tmp_path.iterdir()) == []
