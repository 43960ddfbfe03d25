"""``--local-services``: real servers for the run, stopped when it ends (Ctrl-C included)."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from testing.services.endpoints import PostgresEndpoint, given_to_this_process
from tests.support.inner_pytest import run_inner_pytest

RECORDS_ENDPOINTS = """
import os
from pathlib import Path

from testing.services import postgres as pg
from testing.services import s3 as s3svc


def test_servers_answer(postgres, s3):
    Path(os.environ["RECORD"]).write_text(
        f"{postgres.host}:{postgres.port}/{postgres.dbname} {s3.endpoint_url}"
    )
    assert pg.check(postgres).split(".")[0].isdigit()
    assert s3.bucket in s3svc.check(s3)
    EXTRA_LINE
"""


def refused(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=5):
            return False
    except ConnectionRefusedError:
        return True


@pytest.mark.requirement("SVC-006")
@pytest.mark.parametrize(
    ("extra", "exit_code"),
    [("", pytest.ExitCode.OK), ("raise KeyboardInterrupt", pytest.ExitCode.INTERRUPTED)],
    ids=["passed", "ctrl-c"],
)
def test_local_servers_are_started_for_the_run_and_stopped_after_it(
    tmp_path: Path, extra: str, exit_code: int
) -> None:
    record = tmp_path / "endpoints.txt"
    run = run_inner_pytest(
        tmp_path,
        RECORDS_ENDPOINTS.replace("EXTRA_LINE", extra),
        "--local-services",
        env={"RECORD": str(record), "POSTGRES_URL": None, "S3_ENDPOINT_URL": None},
    )
    assert run.returncode == exit_code, run.output
    pg_location, s3_url = record.read_text().split()
    pg_host_port = pg_location.split("/", 1)[0]
    pg_host, pg_port = pg_host_port.rsplit(":", 1)
    s3_parts = urlsplit(s3_url)
    assert pg_host == "127.0.0.1"
    assert s3_parts.hostname == "127.0.0.1"
    assert refused(pg_host, int(pg_port))
    assert refused("127.0.0.1", int(s3_parts.port or 0))


@pytest.mark.requirement("SVC-007")
def test_a_child_process_inherits_no_credential_of_the_local_servers() -> None:
    """The run's servers are handed to this process explicitly, not through os.environ: a
    child the tests start (kwokctl, kubectl, go, a browser) sees none of their secrets."""
    given = given_to_this_process()
    assert sorted(given) == [
        "AWS_ACCESS_KEY_ID",
        "AWS_REGION",
        "AWS_SECRET_ACCESS_KEY",
        "POSTGRES_URL",
        "S3_ENDPOINT_URL",
    ], "run with --local-services, as nox -s integration does"
    printed = subprocess.run(
        [sys.executable, "-c", "import json, os; print(json.dumps(dict(os.environ)))"],
        capture_output=True, text=True, timeout=60, check=True,
    ).stdout  # fmt: skip
    child = json.loads(printed)
    assert [name for name in given if name in child and name != "AWS_REGION"] == []
    secrets = [
        given["AWS_SECRET_ACCESS_KEY"],
        given["AWS_ACCESS_KEY_ID"],
        PostgresEndpoint.from_url(given["POSTGRES_URL"]).password.get_secret_value(),
    ]
    leaked = [name for name, value in child.items() if any(s in value for s in secrets)]
    assert leaked == []
