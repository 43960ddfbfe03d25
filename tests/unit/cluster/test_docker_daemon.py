"""A dockerd that cannot even be executed: one error line, no log handle or temp dir left.

The dockerd on PATH is a stand-in whose interpreter does not exist, so the exec
fails before any daemon runs; a real dockerd cannot be made to fail to exec.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import pytest

from testing.cluster import docker_daemon
from testing.cluster.kind_cli import ContainerRuntimeUnavailableError


def _open_fds_under(root: Path) -> list[str]:
    fds = Path("/proc/self/fd")
    targets = []
    for fd in fds.iterdir():
        try:
            targets.append(os.readlink(fd))
        except OSError:
            continue
    return [t for t in targets if t.startswith(str(root))]


def test_dockerd_that_cannot_start_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    dockerd = bin_dir / "dockerd"
    dockerd.write_text("#!/nonexistent/interpreter\n")
    dockerd.chmod(0o755)
    monkeypatch.setenv("PATH", str(bin_dir))
    monkeypatch.setattr(os, "geteuid", lambda: 0)  # the exec fails before root matters
    made: list[Path] = []
    real_mkdtemp = tempfile.mkdtemp

    def recording_mkdtemp(**kwargs: Any) -> str:
        path: str = real_mkdtemp(**kwargs)
        made.append(Path(path))
        return path

    monkeypatch.setattr(tempfile, "mkdtemp", recording_mkdtemp)

    with (
        pytest.raises(ContainerRuntimeUnavailableError) as info,
        docker_daemon.private_docker_daemon(),
    ):
        pytest.fail("the daemon must not start")

    assert str(info.value) == f"cannot start {dockerd}: No such file or directory"
    assert len(made) == 1
    assert not made[0].exists()
    assert _open_fds_under(made[0]) == []
