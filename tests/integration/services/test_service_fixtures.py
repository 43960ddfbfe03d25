"""The ``postgres`` and ``s3`` fixtures against real local PostgreSQL and MinIO servers."""

from __future__ import annotations

from pathlib import Path

import pytest

from testing.services import postgres as pg
from testing.services import s3 as s3svc
from testing.services.endpoints import PostgresEndpoint, S3Endpoint
from tests.support.inner_pytest import run_inner_pytest


@pytest.mark.requirement("SVC-001")
def test_postgres_fixture_is_a_fresh_database_of_its_own(
    postgres: PostgresEndpoint, postgres_admin: PostgresEndpoint
) -> None:
    assert postgres.dbname != postgres_admin.dbname
    assert postgres.dsn.get_secret_value().endswith(f"/{postgres.dbname}")
    assert postgres.password.get_secret_value() not in str(postgres)
    with pg.connect(postgres) as conn:
        assert conn.execute(
            "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'"
        ).fetchone() == (0,)
        conn.execute("CREATE TABLE orders (id int PRIMARY KEY, total numeric)")
        conn.execute("INSERT INTO orders VALUES (1, 9.5), (2, 0.5)")
        assert conn.execute("SELECT current_database(), sum(total) FROM orders").fetchone() == (
            postgres.dbname,
            10,
        )


@pytest.mark.requirement("SVC-002")
def test_s3_fixture_is_a_fresh_empty_bucket(s3: S3Endpoint) -> None:
    client = s3svc.client(s3)
    assert client.list_objects_v2(Bucket=s3.bucket).get("KeyCount") == 0
    client.put_object(Bucket=s3.bucket, Key="raw/orders.csv", Body=b"id,total\n1,9.5\n")
    body = client.get_object(Bucket=s3.bucket, Key="raw/orders.csv")["Body"].read()
    assert body == b"id,total\n1,9.5\n"
    assert s3.access_key.get_secret_value() not in repr(s3)


TEARDOWN_CHECK = """
import os
from pathlib import Path

from testing.services import postgres as pg
from testing.services import s3 as s3svc


def test_leaves_data_behind(postgres, s3):
    Path(os.environ["RECORD"]).write_text(postgres.dbname + " " + s3.bucket)
    with pg.connect(postgres) as conn:
        conn.execute("CREATE TABLE left_over (id int)")
    s3svc.client(s3).put_object(Bucket=s3.bucket, Key="left/over.txt", Body=b"x")
    assert s3svc.bucket_exists(s3, s3.bucket)
"""


@pytest.mark.requirement("SVC-001", "SVC-002")
def test_database_and_bucket_are_removed_after_the_test_even_with_data_in_them(
    tmp_path: Path, postgres_admin: PostgresEndpoint, s3_admin: S3Endpoint
) -> None:
    record = tmp_path / "record.txt"
    run = run_inner_pytest(tmp_path, TEARDOWN_CHECK, env={"RECORD": str(record)})
    assert run.returncode == 0, run.output
    dbname, bucket = record.read_text().split()
    assert not pg.database_exists(postgres_admin, dbname)
    assert bucket not in s3svc.check(s3_admin)
