"""``--local-services``: real servers for the run, stopped when it ends (Ctrl-C included)."""

from __future__ import annotations

import socket
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.support.inner_pytest import run_inner_pytest

RECORDS_ENDPOINTS = """
import os
from pathlib import Path

from testing.services import postgres as pg
from testing.services import s3 as s3svc


def test_servers_answer(postgres, s3):
    Path(os.environ["RECORD"]).write_text(
        os.environ["POSTGRES_URL"].rsplit("@", 1)[1] + " " + os.environ["S3_ENDPOINT_URL"]
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
