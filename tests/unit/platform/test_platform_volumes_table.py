"""Simulated volumes for kwok's claims, and the deploy summary table."""

from __future__ import annotations

from testing.platform.deploy import Row, table
from testing.platform.manifests import STAGES, stage_objects
from testing.platform.volumes import claims_of, simulated_volume


def test_one_volume_per_statefulset_claim_with_the_requested_size() -> None:
    services = next(s for s in STAGES if s.name == "services")
    claims = {name: spec for _, name, spec in claims_of(stage_objects(services))}
    assert sorted(claims) == ["data-minio-0", "data-postgres-0"]
    volume = simulated_volume("ktp-platform", "data-minio-0", claims["data-minio-0"])
    assert volume["spec"]["capacity"] == {"storage": "2Gi"}
    assert volume["spec"]["claimRef"]["name"] == "data-minio-0"
    assert volume["spec"]["claimRef"]["namespace"] == "ktp-platform"
    assert volume["metadata"]["name"] == "ktp-sim-ktp-platform-data-minio-0"
    assert "hostPath" not in volume["spec"]


def test_table_lines_up_and_reports_the_total() -> None:
    text = table(
        [Row("postgres", "postgres.ktp-platform.svc:5432", 12.34), Row("minio", "http://x", 3.0)],
        15.5,
    )
    lines = text.splitlines()
    assert lines[0] == "service  | endpoint                       | time to healthy"
    assert lines[2] == "postgres | postgres.ktp-platform.svc:5432 | 12.3s"
    assert lines[3] == "minio    | http://x                       | 3.0s"
    assert lines[-1] == "all services healthy in 15.5s"


def test_a_table_of_simulated_readiness_does_not_say_healthy() -> None:
    rows = [
        Row("postgres", "postgres.ktp-platform.svc:5432", 1.0, checked=False),
        Row("databases", "none made: Job postgres-init completed without a container", 2.0,
            checked=False),
    ]  # fmt: skip
    last = table(rows, 2.5).splitlines()[-1]
    assert last == (
        "all objects ready in 2.5s; no protocol was checked "
        "(simulated nodes: nothing runs behind the pods)"
    )
