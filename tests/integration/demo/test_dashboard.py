"""The dashboard served by ``python -m demo serve`` over real local PostgreSQL and S3,
rendered in a real headless browser (Debian's Chromium here, driven by Playwright): DOM
values and screenshot pixels.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from testing.polling import wait_for_condition
from tests.e2e import dashboard_check as dash
from tests.e2e import demo_content as content


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def settings(postgres: Any, s3: Any) -> Any:
    return content.settings_for(postgres, s3, DEMO_SEED_SCALE=400, DEMO_SEED=11)


@pytest.fixture
def dashboard(settings: Any) -> Iterator[str]:
    """``python -m demo serve`` in a child process, stopped (and awaited) after the test."""
    port = _free_port()
    env = {**os.environ, **dash.settings_env(settings)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "demo", "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}/"

    def healthy() -> bool:
        if proc.poll() is not None:
            raise AssertionError(
                f"demo serve exited: {proc.stderr.read().decode() if proc.stderr else ''}"
            )
        with urllib.request.urlopen(url + "healthz", timeout=2) as response:  # noqa: S310
            return bool(response.status == 200)

    try:
        wait_for_condition(
            healthy, timeout=30, description=f"dashboard at {url}", retry_on=(OSError,)
        )
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=15)
        if proc.stderr:
            proc.stderr.close()


@pytest.mark.requirement("DEMO-007")
def test_dashboard_shows_catalog_numbers_in_chromium(
    settings: Any, dashboard: str, tmp_path: Path
) -> None:
    for product in ("customer-360", "iot-telemetry", "financial-risk"):
        content.run(settings, product)
    namespaces = {
        "customer-360": "customer_360",
        "iot-telemetry": "iot_telemetry",
        "financial-risk": "financial_risk",
    }
    dash.assert_dashboard_matches_catalog(
        dashboard, content.catalog(settings), namespaces, tmp_path / "dashboard.png"
    )
