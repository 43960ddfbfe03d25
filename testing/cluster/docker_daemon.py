"""The real Docker daemon for tests: the one that answers, or a private, throw-away one.

:func:`docker_daemon` is what tests ask for. Where a daemon already answers
(``DOCKER_HOST``, else the default socket: a GitHub runner, a laptop) it is used as it
is, by any user that may reach it. Where none answers, and only as root, a private one
is started: CI machines often have Docker installed but no daemon running (no systemd).

:func:`private_docker_daemon` starts ``dockerd`` with its own data root, exec root,
pidfile and socket under a short temporary directory, waits until ``docker info``
answers, and stops it and removes the directory afterwards.

:func:`start_cluster_daemon` starts one that outlives the process that started it: a
kind cluster's own, where no Docker runs (found again by its pidfile, stopped with
:func:`stop_cluster_daemon` by ``down``, which also removes its networks, data and
cgroups).

Both are started so as to leave the host as it found it: no ``docker0`` bridge, no
iptables rules, no change to IP forwarding, containers under a cgroup parent of their
own, and the runc wrapper as default runtime where root lacks CAP_SYS_RESOURCE.
Starting either needs root. With ``offline=True`` a private daemon's registry traffic
goes to a proxy address on loopback where nothing listens, so a pull fails the same way
on every machine, connected or not.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from testing import runc_wrapper
from testing.cluster.host_state import remove_cgroups, run_dir, unmount_below
from testing.cluster.kind_cli import ContainerRuntimeUnavailableError, check_container_runtime
from testing.polling import (
    Backoff,
    ConditionFailedError,
    TerminalFailure,
    WaitTimeoutError,
    wait_for_condition,
)

START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 30.0
#: Loopback port 9 (discard) has no listener here: every proxied request is refused.
_DEAD_PROXY = "http://127.0.0.1:9"


#: Where the Docker CLI looks when DOCKER_HOST is unset.
DEFAULT_HOST = "unix:///var/run/docker.sock"


@dataclass(frozen=True)
class DockerDaemon:
    """A running daemon: point clients at it with ``env``.

    ``root`` and ``process`` are set only for a private daemon this module started.
    """

    host: str
    version: str
    root: Path | None = None
    process: subprocess.Popen[bytes] | None = None

    @property
    def private(self) -> bool:
        return self.process is not None

    @property
    def env(self) -> dict[str, str]:
        return {"DOCKER_HOST": self.host}


def _host(env: Mapping[str, str]) -> str:
    """The daemon address the Docker CLI uses with ``env``."""
    return env.get("DOCKER_HOST") or DEFAULT_HOST


def answering_daemon(env: Mapping[str, str] | None = None) -> DockerDaemon | None:
    """The daemon ``docker`` reaches with ``env`` (default: this process's), if it answers."""
    host = _host(os.environ if env is None else env)
    try:
        version = check_container_runtime({"DOCKER_HOST": host})
    except ContainerRuntimeUnavailableError:
        return None
    return DockerDaemon(host=host, version=version)


@contextmanager
def docker_daemon(*, offline: bool = True) -> Iterator[DockerDaemon]:
    """The daemon that answers; else, as root, a private one for the ``with`` block; else one line.

    ``offline`` applies to a private daemon only: a daemon that was already running
    keeps its own registry settings, so tests that must not pull name an image on a
    registry address where nothing listens instead (:data:`UNPULLABLE_REGISTRY`).
    """
    found = answering_daemon()
    if found is not None:
        yield found
        return
    if os.geteuid() != 0:
        raise ContainerRuntimeUnavailableError(
            f"no Docker daemon answers at {_host(os.environ)}, and only root may start a "
            "private one: "
            "start Docker (or set DOCKER_HOST to one that runs), or run as root"
        )
    with private_docker_daemon(offline=offline) as started:
        yield started


#: A registry address where nothing listens: a pull from it fails on any daemon.
UNPULLABLE_REGISTRY = "127.0.0.1:9"


#: The name a private dockerd gives the runc wrapper, its default runtime where needed.
WRAPPER_RUNTIME = "ktp-runc"


def _argv(dockerd: str, run: Path, data: Path) -> list[str]:
    """dockerd with everything under ``run`` (short: sockets) and ``data`` (images)."""
    argv = [
        dockerd,
        "--data-root", str(data),
        "--exec-root", str(run / "exec"),
        "--pidfile", str(run / "dockerd.pid"),
        "--host", f"unix://{run / 'docker.sock'}",
        "--bridge=none",
        "--iptables=false",
        "--ip-forward=false",
        # Containers' cgroups under a parent named after this daemon, removed when it stops
        # (dockerd itself leaves a "docker" cgroup in every hierarchy behind).
        "--exec-opt", "native.cgroupdriver=cgroupfs",
        "--cgroup-parent", f"/{run.name}",
    ]  # fmt: skip
    if runc_wrapper.needs_wrapper():
        # Privileged containers (kind's nodes) ask for CAP_SYS_RESOURCE, which this
        # host's root lacks: the wrapper drops it from each spec before runc reads it.
        runc = shutil.which("runc")
        if runc is None:
            raise ContainerRuntimeUnavailableError("runc is not installed: `apt-get install runc`")
        interpreter = shutil.which("python3", path="/usr/bin:/bin") or sys.executable
        wrapper = run / "runc-wrapper"
        wrapper.write_text(runc_wrapper.script(runc, interpreter), encoding="utf-8")
        wrapper.chmod(0o700)
        argv += [
            "--add-runtime",
            f"{WRAPPER_RUNTIME}={wrapper}",
            "--default-runtime",
            WRAPPER_RUNTIME,
        ]
    return argv


def _dockerd() -> str:
    dockerd = shutil.which("dockerd")
    if dockerd is None:
        raise ContainerRuntimeUnavailableError(
            "dockerd is not installed: `apt-get install docker.io` (Debian/Ubuntu) or install "
            "Docker Engine"
        )
    if os.geteuid() != 0:
        raise ContainerRuntimeUnavailableError(
            "starting a private dockerd needs root: run as root (CI) or under sudo, or start "
            "Docker yourself"
        )
    return dockerd


@contextmanager
def private_docker_daemon(
    *,
    offline: bool = True,
    start_timeout: float = START_TIMEOUT_S,
    socket_group: str | None = None,
) -> Iterator[DockerDaemon]:
    """Start a private ``dockerd``, yield it once ``docker info`` answers, then stop it.

    With ``socket_group`` the socket belongs to that group (mode 0660) and its
    directory may be traversed, so members who are not root can use the daemon, as
    the ``docker`` group can on a GitHub runner; nothing else in it is opened up.
    """
    dockerd = _dockerd()
    # Unix socket paths are limited to 108 bytes, and containerd nests its socket under
    # the exec root: keep the directory short. mkdtemp makes it private (0700) and unique,
    # so the fixed parent is not the predictable-temp-file risk B108 guards against.
    root = Path(tempfile.mkdtemp(prefix="dkd-", dir="/tmp"))  # nosec B108
    env = dict(os.environ)
    if offline:
        env |= {"HTTP_PROXY": _DEAD_PROXY, "HTTPS_PROXY": _DEAD_PROXY, "NO_PROXY": ""}
    process: subprocess.Popen[bytes] | None = None
    try:
        argv = _argv(dockerd, root, root / "data")
        if socket_group is not None:
            argv += ["--group", socket_group]
            root.chmod(0o711)  # traversable to reach the socket; not listable
        with (root / "dockerd.log").open("wb") as log:
            try:
                process = subprocess.Popen(
                    argv,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    env=env,
                    start_new_session=True,
                )
            except OSError as exc:
                raise ContainerRuntimeUnavailableError(
                    f"cannot start {dockerd}: {exc.strerror or exc}"
                ) from None
            host = f"unix://{root / 'docker.sock'}"
            version = _wait_until_answering(host, process, root / "dockerd.log", start_timeout)
            yield DockerDaemon(host=host, version=version, root=root, process=process)
    finally:
        if process is not None:
            _stop(process)
        remove_cgroups(root.name)
        shutil.rmtree(root, ignore_errors=True)


def _wait_until_answering(
    host: str, process: subprocess.Popen[bytes], log: Path, timeout: float
) -> str:
    def answering() -> str:
        """The server version once it answers; "" (not yet) before."""
        if process.poll() is not None:
            raise TerminalFailure(f"dockerd exited with {process.returncode}: {_log_tail(log)}")
        try:
            return check_container_runtime({"DOCKER_HOST": host}, timeout=5)
        except ContainerRuntimeUnavailableError:
            return ""

    try:
        return wait_for_condition(
            answering,
            timeout=timeout,
            description=f"private dockerd on {host}",
            backoff=Backoff(initial=0.1, factor=1.5, maximum=1.0),
        )
    except WaitTimeoutError as exc:
        raise ContainerRuntimeUnavailableError(f"{exc}; dockerd log: {_log_tail(log)}") from None
    except ConditionFailedError as exc:  # dockerd died while starting
        raise ContainerRuntimeUnavailableError(str(exc)) from None


def _stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM lets dockerd stop its containerd child; SIGKILL only if it hangs."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, 9)
        process.wait(timeout=STOP_TIMEOUT_S)


def _log_tail(log: Path) -> str:
    try:
        lines = log.read_text(encoding="utf-8", errors="replace").strip().splitlines()
    except OSError:
        return "(no log)"
    return " | ".join(line[-200:] for line in lines[-3:]) or "(empty log)"


# --- a daemon that outlives the process that started it: a kind cluster's own ------------


@dataclass(frozen=True)
class DaemonPaths:
    """Where a cluster's own dockerd keeps its sockets (``run``) and images (``data``)."""

    run: Path
    data: Path

    @property
    def host(self) -> str:
        return f"unix://{self.run / 'docker.sock'}"

    @property
    def pidfile(self) -> Path:
        return self.run / "dockerd.pid"

    @property
    def log(self) -> Path:
        return self.data.parent / "dockerd.log"


def cluster_daemon_paths(cluster_dir: Path) -> DaemonPaths:
    """Paths of the dockerd a kind cluster in ``cluster_dir`` starts for itself.

    The sockets go under /run, named after the cluster directory: unix socket paths
    are limited to 108 bytes, and a checkout's path can be long.
    """
    return DaemonPaths(run=run_dir(cluster_dir, "ktp-dockerd"), data=cluster_dir / "dockerd")


def _pid(paths: DaemonPaths) -> int | None:
    """The daemon's pid while it runs: the pidfile's process, if it is this daemon (a
    stale pidfile may name a reused pid) and not a zombie."""
    try:
        pid = int(paths.pidfile.read_text(encoding="utf-8").strip())
        state = Path(f"/proc/{pid}/stat").read_text(encoding="utf-8").rsplit(")", 1)[1].split()[0]
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except (OSError, ValueError, IndexError):
        return None
    named = any(Path(arg.decode()).name == "dockerd" for arg in argv[:2])  # or its interpreter
    ours = named and str(paths.pidfile).encode() in argv
    return pid if ours and state not in ("Z", "X") else None


def running_cluster_daemon(paths: DaemonPaths) -> DockerDaemon | None:
    """The cluster's own dockerd, if its pidfile names a live process that answers."""
    if _pid(paths) is None:
        return None
    try:
        version = check_container_runtime({"DOCKER_HOST": paths.host}, timeout=10)
    except ContainerRuntimeUnavailableError:
        return None
    return DockerDaemon(host=paths.host, version=version, root=paths.run)


def start_cluster_daemon(
    paths: DaemonPaths, *, start_timeout: float = START_TIMEOUT_S
) -> DockerDaemon:
    """Start a dockerd that keeps running after this process ends; stop it with
    :func:`stop_cluster_daemon`. A daemon that fails to start leaves nothing behind."""
    dockerd = _dockerd()
    paths.run.mkdir(mode=0o700, parents=True, exist_ok=True)
    paths.data.mkdir(mode=0o700, parents=True, exist_ok=True)
    process: subprocess.Popen[bytes] | None = None
    try:
        argv = _argv(dockerd, paths.run, paths.data)
        with paths.log.open("ab") as log:
            try:
                process = subprocess.Popen(
                    argv, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
                )
            except OSError as exc:
                raise ContainerRuntimeUnavailableError(
                    f"cannot start {dockerd}: {exc.strerror or exc}"
                ) from None
        version = _wait_until_answering(paths.host, process, paths.log, start_timeout)
    except BaseException:
        if process is not None:  # it may not have written its pidfile yet
            _stop(process)
        stop_cluster_daemon(paths)
        raise
    return DockerDaemon(host=paths.host, version=version, root=paths.run)


def stop_cluster_daemon(paths: DaemonPaths, *, timeout: float = STOP_TIMEOUT_S) -> None:
    """Stop the cluster's dockerd (SIGTERM, then SIGKILL) and remove its directories."""
    pid = _pid(paths)
    try:
        if pid is not None:
            # Networks (kind's) outlive a daemon's restart: their bridges would stay behind.
            _docker(paths.host, ["network", "prune", "--force"])
            with _suppress_gone():
                os.kill(pid, signal.SIGTERM)
            try:
                wait_for_condition(
                    lambda: _pid(paths) is None,
                    timeout=timeout,
                    description=f"dockerd {pid} to exit",
                    backoff=Backoff(initial=0.1, factor=1.5, maximum=1.0),
                )
            except WaitTimeoutError:
                with _suppress_gone():
                    os.killpg(pid, signal.SIGKILL)
                wait_for_condition(
                    lambda: _pid(paths) is None,
                    timeout=timeout,
                    description=f"dockerd {pid} killed",
                )
    finally:
        for directory in (paths.run, paths.data):
            unmount_below(directory)
            shutil.rmtree(directory, ignore_errors=True)
        remove_cgroups(paths.run.name)


def _docker(host: str, args: list[str]) -> None:
    """A best-effort docker command against ``host`` (clean-up: failures change nothing)."""
    docker = shutil.which("docker")
    if docker is not None:
        with contextlib.suppress(subprocess.TimeoutExpired):
            subprocess.run(
                [docker, *args],
                env={**os.environ, "DOCKER_HOST": host},
                capture_output=True,
                timeout=STOP_TIMEOUT_S,
                check=False,
            )


def _suppress_gone() -> contextlib.AbstractContextManager[None]:
    return contextlib.suppress(ProcessLookupError)
