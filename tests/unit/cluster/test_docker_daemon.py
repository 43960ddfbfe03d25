"""How dockerd is started and stopped, against stand-ins for ``dockerd`` and ``docker``.

A real dockerd cannot be made to fail to exec, and its start-up needs root and minutes;
these stand-ins are small Python programs on PATH: one whose interpreter does not exist,
and one that writes its pidfile, answers nothing and exits on SIGTERM, with a ``docker``
that answers ``info`` and records what it is asked. The real daemons run in the
integration tier (CLU-015, CLU-017, CLU-018).
"""

from __future__ import annotations

import os
import signal
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from testing import runc_wrapper
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


@pytest.mark.requirement("CLU-019")
def test_dockerd_leaves_bridges_iptables_and_forwarding_alone_and_runs_runc_through_the_wrapper(
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
        for flag in ("--bridge=none", "--iptables=false", "--ip-forward=false"):
            assert flag in argv
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


# As the real daemon does: the pidfile first, then the socket; the client answers only
# once the socket is there (else a check could pass before the pidfile exists).
STAND_IN_DOCKERD = """#!{python}
import os, signal, sys
args = sys.argv[1:]
with open(args[args.index("--pidfile") + 1], "w") as pidfile:
    pidfile.write(str(os.getpid()))
open(args[args.index("--host") + 1].removeprefix("unix://"), "w").close()
signal.sigwait({{signal.SIGTERM}})
"""
STAND_IN_DOCKER = """#!{python}
import os, sys
with open({log!r}, "a") as log:
    log.write(" ".join(sys.argv[1:]) + "\\n")
if sys.argv[1:2] == ["info"]:
    if not os.path.exists(os.environ.get("DOCKER_HOST", "").removeprefix("unix://")):
        sys.exit("Cannot connect to the Docker daemon")
    print("20.10.24")
"""


@pytest.fixture
def nothing_left_under(tmp_path: Path) -> Iterator[Path]:
    """``tmp_path``; at teardown, any process started from it (a stand-in daemon a failed
    assertion left running) is killed, so a failing test leaves nothing behind."""
    yield tmp_path
    needle = str(tmp_path).encode()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if needle in (entry / "cmdline").read_bytes():
                os.kill(int(entry.name), signal.SIGKILL)
        except (OSError, ProcessLookupError):
            continue


@pytest.mark.requirement("CLU-019")
def test_a_clusters_dockerd_outlives_its_starter_and_stopping_it_prunes_networks_and_removes_all(
    nothing_left_under: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tmp_path = nothing_left_under
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "docker.log"
    for name, program in (("dockerd", STAND_IN_DOCKERD), ("docker", STAND_IN_DOCKER)):
        (bin_dir / name).write_text(program.format(python=sys.executable, log=str(log)))
        (bin_dir / name).chmod(0o755)
    monkeypatch.setenv("PATH", str(bin_dir))
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    monkeypatch.setattr(runc_wrapper, "needs_wrapper", lambda: False)
    cgroups = tmp_path / "cgroup"
    monkeypatch.setattr(host_state, "CGROUP_ROOT", cgroups)
    paths = docker_daemon.DaemonPaths(
        run=tmp_path / "run" / "ktp-dockerd-x", data=tmp_path / "data"
    )
    (cgroups / "memory" / paths.run.name / "node" / "kubelet").mkdir(parents=True)
    (cgroups / "memory" / "docker").mkdir(parents=True)

    started = docker_daemon.start_cluster_daemon(paths)
    assert started.host == f"unix://{paths.run / 'docker.sock'}"
    assert started.version == "20.10.24"
    pid = int(paths.pidfile.read_text())
    assert os.getpgid(pid) == pid  # its own session: a Ctrl-C of the starter misses it
    assert docker_daemon.running_cluster_daemon(paths) == docker_daemon.DockerDaemon(
        host=started.host, version="20.10.24", root=paths.run
    )

    docker_daemon.stop_cluster_daemon(paths)
    assert docker_daemon.running_cluster_daemon(paths) is None
    assert not Path(f"/proc/{pid}").exists() or "Z" in Path(f"/proc/{pid}/stat").read_text()
    assert "network prune --force" in log.read_text().splitlines()
    assert not paths.run.exists()
    assert not paths.data.exists()
    assert sorted(str(p.relative_to(cgroups)) for p in cgroups.glob("*/*")) == ["memory/docker"]


@pytest.mark.requirement("CLU-019")
def test_a_pidfile_naming_another_process_is_not_the_daemon(tmp_path: Path) -> None:
    paths = docker_daemon.DaemonPaths(run=tmp_path / "run", data=tmp_path / "data")
    paths.run.mkdir()
    paths.pidfile.write_text(str(os.getpid()))  # alive, but pytest, not this dockerd
    assert docker_daemon.running_cluster_daemon(paths) is None
    docker_daemon.stop_cluster_daemon(paths)  # must not signal pytest
    assert not paths.run.exists()
