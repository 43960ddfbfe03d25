"""The REAL ``podman`` binary behind ``KIND_EXPERIMENTAL_PROVIDER=podman``.

Podman is daemonless: ``podman info`` answers wherever Podman is installed (rootful here,
rootless on a laptop or a GitHub runner). "Not reachable" is made real by pointing
``CONTAINER_HOST`` at a socket that does not exist, which switches Podman to its remote
client, exactly as a user whose ``podman machine`` is stopped sees it. No cluster is
created: kind has no node image here (see the README).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from testing.cluster.kind_cli import (
    RUNTIME_ENV,
    ContainerRuntimeUnavailableError,
    check_container_runtime,
)


def _podman() -> str:
    found = shutil.which("podman")
    assert found is not None, "podman is not installed: apt-get install podman"
    return found


def _dead_socket(tmp_path: Path) -> dict[str, str]:
    return {RUNTIME_ENV: "podman", "CONTAINER_HOST": f"unix://{tmp_path}/podman.sock"}


@pytest.mark.requirement("CLU-013")
def test_runtime_check_reports_the_real_podman_version() -> None:
    said = subprocess.run(
        [_podman(), "--version"], capture_output=True, text=True, timeout=60, check=True
    ).stdout
    match = re.fullmatch(r"podman version (\S+)\n", said)
    assert match is not None, said
    assert check_container_runtime({RUNTIME_ENV: "podman"}) == match.group(1)


@pytest.mark.requirement("CLU-013")
def test_unreachable_podman_is_one_line_naming_podman_and_the_fix(tmp_path: Path) -> None:
    _podman()
    with pytest.raises(ContainerRuntimeUnavailableError) as caught:
        check_container_runtime(_dead_socket(tmp_path))
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith("the podman daemon is not reachable (")
    assert "connect to Podman" in message  # Podman's own words, kept
    assert message.endswith(
        "start it (`podman machine start` or `systemctl --user start podman.socket`)"
    )


@pytest.mark.requirement("CLU-013")
def test_cluster_up_with_unreachable_podman_exits_1_with_one_error_line(tmp_path: Path) -> None:
    _podman()
    env = {
        **os.environ,
        **_dead_socket(tmp_path),
        "TEST_CLUSTER_PROVIDER": "kind",
        "TEST_CLUSTER_NAME": "podman-unreachable",
        "TEST_STATE_DIR": str(tmp_path / "state"),
    }
    done = subprocess.run(
        [sys.executable, "-m", "testing.cluster", "up"],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,  # kind is built with `go install` on a machine that lacks it
        check=False,
    )
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 1, done.stderr
    assert [line for line in lines if line.startswith("error:")] == lines[-1:], done.stderr
    assert lines[-1].startswith("error: the podman daemon is not reachable (")
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "state" / "podman-unreachable").exists()
