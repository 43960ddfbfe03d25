"""A private, throw-away ``dockerd`` for tests that need a real Docker daemon.

CI machines often have Docker installed but no daemon running (no systemd), and a
developer's daemon holds state (images, kind clusters) that would make results
depend on the machine. :func:`private_docker_daemon` starts ``dockerd`` with its own
data root, exec root, pidfile and socket under a short temporary directory, waits
until ``docker info`` answers, and stops it and removes the directory afterwards.

It is started so as to leave the host as it found it: no ``docker0`` bridge, no
iptables rules, no change to IP forwarding. With ``offline=True`` its registry
traffic goes to a proxy address on loopback where nothing listens, so a pull fails
the same way on every machine, connected or not. Starting it needs root.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

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


@dataclass(frozen=True)
class DockerDaemon:
    """A running private daemon: point clients at it with ``env``."""

    root: Path
    process: subprocess.Popen[bytes]

    @property
    def host(self) -> str:
        return f"unix://{self.root / 'docker.sock'}"

    @property
    def env(self) -> dict[str, str]:
        return {"DOCKER_HOST": self.host}

    @property
    def log(self) -> Path:
        return self.root / "dockerd.log"


def _argv(dockerd: str, root: Path) -> list[str]:
    return [
        dockerd,
        "--data-root", str(root / "data"),
        "--exec-root", str(root / "exec"),
        "--pidfile", str(root / "dockerd.pid"),
        "--host", f"unix://{root / 'docker.sock'}",
        "--bridge=none",
        "--iptables=false",
        "--ip-forward=false",
    ]  # fmt: skip


@contextmanager
def private_docker_daemon(
    *, offline: bool = True, start_timeout: float = START_TIMEOUT_S
) -> Iterator[DockerDaemon]:
    """Start a private ``dockerd``, yield it once ``docker info`` answers, then stop it."""
    dockerd = shutil.which("dockerd")
    if dockerd is None:
        raise ContainerRuntimeUnavailableError(
            "dockerd is not installed: `apt-get install docker.io` (Debian/Ubuntu) or install "
            "Docker Engine"
        )
    if os.geteuid() != 0:
        raise ContainerRuntimeUnavailableError(
            "starting a private dockerd needs root: run the real-Docker tests as root (CI) or "
            "under sudo"
        )
    # Unix socket paths are limited to 108 bytes, and containerd nests its socket under
    # the exec root: keep the directory short. mkdtemp makes it private (0700) and unique,
    # so the fixed parent is not the predictable-temp-file risk B108 guards against.
    root = Path(tempfile.mkdtemp(prefix="dkd-", dir="/tmp"))  # nosec B108
    env = dict(os.environ)
    if offline:
        env |= {"HTTP_PROXY": _DEAD_PROXY, "HTTPS_PROXY": _DEAD_PROXY, "NO_PROXY": ""}
    process: subprocess.Popen[bytes] | None = None
    try:
        with (root / "dockerd.log").open("wb") as log:
            try:
                process = subprocess.Popen(
                    _argv(dockerd, root),
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    env=env,
                    start_new_session=True,
                )
            except OSError as exc:
                raise ContainerRuntimeUnavailableError(
                    f"cannot start {dockerd}: {exc.strerror or exc}"
                ) from None
            daemon = DockerDaemon(root, process)
            _wait_until_answering(daemon, start_timeout)
            yield daemon
    finally:
        if process is not None:
            _stop(process)
        shutil.rmtree(root, ignore_errors=True)


def _wait_until_answering(daemon: DockerDaemon, timeout: float) -> None:
    def answering() -> bool:
        if daemon.process.poll() is not None:
            raise TerminalFailure(
                f"dockerd exited with {daemon.process.returncode}: {_log_tail(daemon.log)}"
            )
        try:
            check_container_runtime(daemon.env, timeout=5)
        except ContainerRuntimeUnavailableError:
            return False
        return True

    try:
        wait_for_condition(
            answering,
            timeout=timeout,
            description=f"private dockerd on {daemon.host}",
            backoff=Backoff(initial=0.1, factor=1.5, maximum=1.0),
        )
    except WaitTimeoutError as exc:
        raise ContainerRuntimeUnavailableError(
            f"{exc}; dockerd log: {_log_tail(daemon.log)}"
        ) from None
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
