"""IntegrationTestBase and the health checks: real protocol checks; missing means FAIL."""

from __future__ import annotations

from pathlib import Path

import pytest

from testing.base_classes import IntegrationTestBase
from testing.services import postgres as pg
from testing.services.endpoints import s3_from_env
from testing.services.health import check_all, http_check, postgres_check, s3_check
from testing.services.local import LocalPostgres, free_port
from tests.support.inner_pytest import run_inner_pytest


def _s3_url() -> str:
    endpoint = s3_from_env()
    return endpoint.endpoint_url if endpoint is not None else ""


class TestAllServicesUp(IntegrationTestBase):
    required_services = (
        "postgres",
        "s3",
        http_check("minio-health", f"{_s3_url()}/minio/health/live"),
    )

    @pytest.mark.requirement("SVC-003")
    def test_checks_pass_against_the_real_servers(self) -> None:
        assert check_all([postgres_check(), s3_check()]) == []


MISSING = """
from testing.base_classes import IntegrationTestBase


class TestNeedsEverything(IntegrationTestBase):
    required_services = ("postgres", "s3")

    def test_one(self):
        assert 1 + 1 == 2

    def test_two(self):
        assert 2 + 2 == 4
"""


@pytest.mark.requirement("SVC-004")
def test_missing_services_fail_every_test_listing_each_one_with_its_start_command(
    tmp_path: Path,
) -> None:
    closed = free_port()
    run = run_inner_pytest(
        tmp_path,
        MISSING,
        env={
            "POSTGRES_URL": f"postgresql://u:secret-pw@127.0.0.1:{closed}/db",
            "S3_ENDPOINT_URL": None,
        },
    )
    assert run.returncode == 1, run.output
    assert "2 errors" in run.output or "2 error" in run.output
    assert "skipped" not in run.output
    assert "Traceback" not in run.output
    assert "required services unavailable (postgres, s3):" in run.output
    lines = [line.strip() for line in run.output.splitlines()]
    pg_line = next(line for line in lines if line.startswith("postgres: PostgreSQL at"))
    assert f"127.0.0.1:{closed}" in pg_line
    assert "refused" in pg_line.lower()
    assert "python -m testing.services" in pg_line
    assert any(line.startswith("s3: S3_ENDPOINT_URL is not set ->") for line in lines)
    assert "secret-pw" not in run.output


STOPPED = """
from testing.services import postgres as pg


def test_uses_postgres(postgres):
    with pg.connect(postgres) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)
"""


@pytest.mark.requirement("SVC-005")
def test_a_stopped_postgres_fails_with_the_reason_in_one_line(tmp_path: Path) -> None:
    server = LocalPostgres()
    try:
        endpoint = server.start()
        assert pg.check(endpoint).startswith(("15", "16", "17"))
    finally:
        server.stop()
    with pytest.raises(pg.PostgresError) as caught:
        pg.check(endpoint)
    assert "\n" not in str(caught.value)
    assert str(caught.value).startswith(f"PostgreSQL at 127.0.0.1:{endpoint.port}: ")
    run = run_inner_pytest(tmp_path, STOPPED, env={"POSTGRES_URL": endpoint.dsn.get_secret_value()})
    assert run.returncode == 1, run.output
    reasons = [
        line for line in run.output.splitlines() if "required service postgres unavailable" in line
    ]
    assert len(reasons) >= 1
    assert f"PostgreSQL at 127.0.0.1:{endpoint.port}:" in reasons[0]
    assert "Traceback" not in run.output
    assert endpoint.password.get_secret_value() not in run.output
