"""Real PostgreSQL and MinIO servers on loopback ports, started and stopped by the test run.

Why real servers: the integration tier tests the fixtures and health checks
against the same protocols the platform speaks. PostgreSQL comes from Debian's
``postgresql`` package (``initdb``/``postgres``); MinIO is built from source with
``go install`` (``testing.tools``, pinned in ``k8s/versions.toml``) because the
platform runs MinIO in-cluster and no image registry or release download is needed.

Each server gets a fresh temporary data directory, a free 127.0.0.1 port and
generated credentials, runs in its own process session (so a Ctrl-C in the
terminal reaches the test runner, which then stops the servers in order) and is
stopped with SIGTERM (then SIGKILL) when the run ends; its directory is removed.
PostgreSQL refuses to run as root, so as root it runs as the ``postgres`` user.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from pydantic import SecretStr

from testing import tools
from testing.polling import Backoff, TerminalFailure, wait_for_condition
from testing.services import postgres, s3
from testing.services.endpoints import PostgresEndpoint, S3Endpoint, postgres_env, s3_env

PG_BIN_DIRS = (
    Path("/usr/lib/postgresql/17/bin"),
    Path("/usr/lib/postgresql/16/bin"),
    Path("/usr/lib/postgresql/15/bin"),
)
START_TIMEOUT_S = 60
STOP_TIMEOUT_S = 20
INITDB_TIMEOUT_S = 120


class LocalServiceError(RuntimeError):
    """A local server could not be started; the message says why and what to install."""


def free_port() -> int:
    """A port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").strip().splitlines()[-lines:])
    except OSError:
        return "(no log)"


@dataclass
class _Process:
    """A server process with its log file and working directory."""

    name: str
    argv: Sequence[str]
    workdir: Path
    env: dict[str, str] = field(default_factory=dict)
    user: str | None = None
    popen: subprocess.Popen[bytes] | None = None
    _log: IO[bytes] | None = None

    @property
    def log_path(self) -> Path:
        return self.workdir / f"{self.name}.log"

    def start(self) -> None:
        self._log = self.log_path.open("ab")
        self.popen = subprocess.Popen(
            list(self.argv),
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env={**os.environ, **self.env},
            cwd=self.workdir,
            user=self.user,
            start_new_session=True,
        )

    def exited(self) -> int | None:
        return None if self.popen is None else self.popen.poll()

    def stop(self) -> None:
        if self.popen is not None and self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(timeout=STOP_TIMEOUT_S)
        if self._log is not None:
            self._log.close()
            self._log = None


def _await_ready(process: _Process, probe: Any, what: str) -> None:
    def ready() -> bool:
        code = process.exited()
        if code is not None:
            raise TerminalFailure(f"{what} exited with code {code}:\n{_tail(process.log_path)}")
        probe()
        return True

    wait_for_condition(
        ready,
        timeout=START_TIMEOUT_S,
        description=f"{what} to accept requests",
        backoff=Backoff(initial=0.05, maximum=0.5),
    )


def _pg_binary(name: str) -> str:
    for directory in PG_BIN_DIRS:
        if (directory / name).is_file():
            return str(directory / name)
    found = shutil.which(name)
    if found is None:
        raise LocalServiceError(
            f"PostgreSQL's {name} is not installed: `apt-get install -y postgresql` "
            "(Debian/Ubuntu) or set POSTGRES_URL to a running server"
        )
    return found


class LocalPostgres:
    """A throwaway PostgreSQL cluster: initdb into a temp dir, serve on a loopback port."""

    def __init__(self) -> None:
        self.user = "ktp"
        self.password = SecretStr(secrets.token_urlsafe(18))
        self.port = free_port()
        self.workdir = Path(tempfile.mkdtemp(prefix="ktp-postgres-"))
        self.datadir = self.workdir / "data"
        self.os_user = "postgres" if os.geteuid() == 0 else None
        self._process: _Process | None = None

    @property
    def endpoint(self) -> PostgresEndpoint:
        return PostgresEndpoint("127.0.0.1", self.port, self.user, self.password, "postgres")

    def _chown(self, path: Path) -> None:
        if self.os_user is not None:
            entry = pwd.getpwnam(self.os_user)
            os.chown(path, entry.pw_uid, entry.pw_gid)

    def _initdb(self, pwfile: Path) -> subprocess.CompletedProcess[str]:
        """Run initdb; a hang becomes a one-line LocalServiceError, not a traceback."""
        try:
            return subprocess.run(
                [
                    _pg_binary("initdb"),
                    "-D",
                    str(self.datadir),
                    "-U",
                    self.user,
                    f"--pwfile={pwfile}",
                    "--auth=scram-sha-256",
                    "--encoding=UTF8",
                    "--no-sync",
                ],
                capture_output=True,
                text=True,
                timeout=INITDB_TIMEOUT_S,
                check=False,
                user=self.os_user,
                cwd=self.workdir,
            )
        except subprocess.TimeoutExpired as exc:
            output = exc.stderr or exc.stdout or b""
            text = output.decode(errors="replace") if isinstance(output, bytes) else output
            last = text.strip().splitlines()[-1:] or ["(no output)"]
            raise LocalServiceError(
                f"initdb did not finish within {exc.timeout:g}s (data dir {self.datadir}; "
                f"its last output: {last[0]}); check the disk and the PostgreSQL install"
            ) from None

    def start(self) -> PostgresEndpoint:
        if self.os_user is not None:
            try:
                pwd.getpwnam(self.os_user)
            except KeyError:
                raise LocalServiceError(
                    "running as root needs the 'postgres' OS user (created by "
                    "`apt-get install -y postgresql`) because PostgreSQL refuses root"
                ) from None
        self._chown(self.workdir)
        pwfile = self.workdir / "pwfile"
        pwfile.write_text(self.password.get_secret_value() + "\n")
        pwfile.chmod(0o600)
        self._chown(pwfile)
        try:
            initdb = self._initdb(pwfile)
        finally:
            pwfile.unlink(missing_ok=True)
        if initdb.returncode != 0:
            raise LocalServiceError(f"initdb failed: {tools.tail(initdb.stderr or initdb.stdout)}")
        self._process = _Process(
            "postgres",
            [
                _pg_binary("postgres"),
                "-D",
                str(self.datadir),
                "-p",
                str(self.port),
                "-c",
                "listen_addresses=127.0.0.1",
                "-c",
                "unix_socket_directories=",
                "-c",
                "fsync=off",
                "-c",
                "synchronous_commit=off",
                "-c",
                "full_page_writes=off",
                "-c",
                "max_connections=200",
            ],
            self.workdir,
            user=self.os_user,
        )
        self._process.start()
        _await_ready(self._process, lambda: postgres.check(self.endpoint), "local PostgreSQL")
        return self.endpoint

    def stop(self) -> None:
        if self._process is not None:
            self._process.stop()  # SIGTERM: PostgreSQL's "smart" then forced by SIGKILL
        shutil.rmtree(self.workdir, ignore_errors=True)


class LocalMinio:
    """A single-drive MinIO server in a temp dir, built from source (``testing.tools``)."""

    def __init__(self) -> None:
        self.access_key = SecretStr("ktp-" + secrets.token_hex(6))
        self.secret_key = SecretStr(secrets.token_urlsafe(24))
        self.port = free_port()
        self.workdir = Path(tempfile.mkdtemp(prefix="ktp-minio-"))
        self._process: _Process | None = None

    @property
    def endpoint(self) -> S3Endpoint:
        return S3Endpoint(f"http://127.0.0.1:{self.port}", self.access_key, self.secret_key)

    def start(self) -> S3Endpoint:
        try:
            binary = tools.resolve("minio")
        except tools.ToolError as exc:
            raise LocalServiceError(f"MinIO is not available: {exc}") from None
        (self.workdir / "data").mkdir()
        self._process = _Process(
            "minio",
            [
                str(binary),
                "server",
                str(self.workdir / "data"),
                "--quiet",
                "--address",
                f"127.0.0.1:{self.port}",
                "--console-address",
                f"127.0.0.1:{free_port()}",
            ],
            self.workdir,
            env={
                "MINIO_ROOT_USER": self.access_key.get_secret_value(),
                "MINIO_ROOT_PASSWORD": self.secret_key.get_secret_value(),
                "MINIO_BROWSER": "off",
                "MINIO_UPDATE": "off",
                "HOME": str(self.workdir),
            },
        )
        self._process.start()
        _await_ready(self._process, lambda: s3.check(self.endpoint), "local MinIO")
        return self.endpoint

    def stop(self) -> None:
        if self._process is not None:
            self._process.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)


@contextlib.contextmanager
def local_services() -> Iterator[dict[str, str]]:
    """Start PostgreSQL and MinIO; yield the environment that points the fixtures at them."""
    pg, minio = LocalPostgres(), LocalMinio()
    try:
        env = {**postgres_env(pg.start()), **s3_env(minio.start())}
        yield env
    finally:
        minio.stop()
        pg.stop()
