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

from testing.cluster import docker_daemon, host_state
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
    (bin_dir / "runc").write_text("")  # what the runc wrapper would run, never started here
    (bin_dir / "runc").chmod(0o755)
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


@pytest.mark.requirement("CLU-015")
def test_a_private_dockerd_runs_runc_through_the_wrapper_only_where_needed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    runc = tmp_path / "bin" / "runc"
    runc.parent.mkdir()
    runc.write_text("")
    runc.chmod(0o755)
    monkeypatch.setenv("PATH", str(runc.parent))
    for needed in (True, False):
        run = tmp_path / f"run-{needed}"
        run.mkdir()
        monkeypatch.setattr(
            docker_daemon.runc_wrapper, "needs_wrapper", lambda needed=needed: needed
        )
        argv = docker_daemon._argv("/usr/bin/dockerd", run, tmp_path / "data")
        assert argv[argv.index("--cgroup-parent") + 1] == f"/{run.name}"
        assert argv[argv.index("--exec-root") + 1] == str(run / "exec")
        if needed:
            wrapper = run / "runc-wrapper"
            assert argv[argv.index("--add-runtime") + 1] == f"ktp-runc={wrapper}"
            assert argv[argv.index("--default-runtime") + 1] == "ktp-runc"
            assert f"REAL_RUNC = {str(runc)!r}" in wrapper.read_text()
            assert wrapper.stat().st_mode & 0o777 == 0o700
        else:
            assert "--add-runtime" not in argv
            assert not (run / "runc-wrapper").exists()


@pytest.mark.requirement("CLU-015")
def test_stopping_a_cluster_dockerd_that_is_gone_removes_its_directories_and_cgroups(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    paths = docker_daemon.DaemonPaths(
        run=tmp_path / "run" / "ktp-dockerd-x", data=tmp_path / "data"
    )
    paths.run.mkdir(parents=True)
    paths.data.mkdir()
    paths.pidfile.write_text("999999999\n")  # no such process
    cgroups = tmp_path / "cgroup"
    for hierarchy in ("memory", "cpu"):
        (cgroups / hierarchy / "ktp-dockerd-x" / "abc" / "kubelet").mkdir(parents=True)
        (cgroups / hierarchy / "docker").mkdir(parents=True)
    monkeypatch.setattr(host_state, "CGROUP_ROOT", cgroups)
    assert docker_daemon.running_cluster_daemon(paths) is None
    docker_daemon.stop_cluster_daemon(paths)
    assert not paths.run.exists()
    assert not paths.data.exists()
    assert sorted(str(p.relative_to(cgroups)) for p in cgroups.glob("*/*")) == [
        "cpu/docker",
        "memory/docker",
    ]
