"""The GitHub integration job's own command, as a user who is not root, with Docker answering.

GitHub runs that job as the runner's ordinary user, with a Docker daemon already
running and reachable through the ``docker`` group. GitHub itself cannot run here,
so this test makes that situation for real:

* the user: ``nobody`` when this runs as root (CI here), else this process's user;
* the daemon: the one that answers, else (as root) a private ``dockerd`` whose
  socket belongs to the ``docker`` group, which ``nobody`` then joins;
* the command and the job's environment are read from ``.github/workflows/ci.yml``
  and run in a copy of this checkout that the user owns, with its own HOME and uv
  cache. Only the Go-built binaries are shared (read-only hard links), as the
  workflow's cache step shares them between runs, and the job's ``TEST_BROWSER``
  (GitHub's Google Chrome) is this machine's browser instead.

The inner run deselects this file: it would start itself again.
"""

from __future__ import annotations

import contextlib
import grp
import json
import os
import shlex
import shutil
import signal
import string
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import yaml

from testing import pins, tools
from testing.cluster.docker_daemon import DockerDaemon, docker_daemon, private_docker_daemon
from testing.polling import wait_for_condition
from tests.e2e.dashboard_check import BROWSER_ENV, browser
from tests.support.unprivileged import REPO_ROOT, not_root, shared_directory

WORKFLOW = REPO_ROOT / ".github" / "workflows" / "ci.yml"
#: How this machine reaches PyPI and the Go module proxy (a proxy, its CA bundle, mirrors):
#: the runner's network, not the job's, so the job's user gets them as they are.
NETWORK_SETTINGS = (
    "SSL_CERT_FILE", "SSL_CERT_DIR", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "PIP_CERT",
    "NODE_EXTRA_CA_CERTS", "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "http_proxy",
    "https_proxy", "no_proxy", "PIP_INDEX_URL", "UV_INDEX_URL", "UV_DEFAULT_INDEX",
    "GOPROXY", "GOSUMDB", "GONOSUMDB", "GOPRIVATE", "GOFLAGS",
)  # fmt: skip
THIS_FILE = "tests/integration/cluster/test_github_integration_job.py"
JOB_TIMEOUT_S = 1800


def integration_job() -> tuple[dict[str, str], str]:
    """The job's environment and the ``run`` line of its nox step, as the workflow says."""
    job: dict[str, Any] = yaml.safe_load(WORKFLOW.read_text())["jobs"]["integration"]
    step = next(s for s in job["steps"] if "nox -s deploy integration" in str(s.get("run")))
    return {str(k): str(v) for k, v in job.get("env", {}).items()}, str(step["run"])


def argv_of(run: str, env: dict[str, str]) -> list[str]:
    """The ``run`` line as argv: ``${NAME}`` from ``env``, then split as the shell would."""
    return shlex.split(string.Template(run).substitute(env))


@contextmanager
def daemon_for(uid: int | None) -> Iterator[tuple[DockerDaemon, list[int]]]:
    """The daemon the job's user reaches, and the groups that user needs for it."""
    if uid is None:
        with docker_daemon() as found:
            yield found, []
        return
    docker_gid = grp.getgrnam("docker").gr_gid  # created by Debian's docker.io, as on GitHub
    with private_docker_daemon(socket_group="docker") as started:
        yield started, [docker_gid]


def copy_checkout(target: Path) -> None:
    """Every file git tracks or would track (what a checkout holds), nothing it ignores."""
    git = shutil.which("git")
    assert git is not None, "git is needed to list the checkout's files"
    listed = subprocess.run(
        [git, "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO_ROOT, capture_output=True, timeout=60, check=True,
    ).stdout.decode().split("\0")  # fmt: skip
    for name in filter(None, listed):
        source = REPO_ROOT / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)


def share_built_binaries(cache: Path) -> None:
    """Hard links to the Go-built tools and Kubernetes binaries, as the workflow's cache.

    kind and MinIO are resolved first (built if this run has not built them yet), so
    the job finds them as it finds them in GitHub's restored cache.
    """
    for name in ("kind", "minio"):
        tools.resolve(name)
    for part in ("tools", "k8s"):
        source = tools.cache_dir() / part
        if source.is_dir():
            shutil.copytree(source, cache / part, copy_function=os.link)


def give_to(uid: int | None, *paths: Path) -> None:
    if uid is None:
        return
    for path in paths:
        for entry in [path, *path.rglob("*")]:
            if entry.is_dir() or (entry.is_file() and entry.stat().st_nlink == 1):
                os.chown(entry, uid, uid, follow_symlinks=False)


def tool_path(directory: Path) -> str:
    """PATH for the job: uv and uvx copied where its user can run them (setup-uv's role on
    GitHub), Go where it is installed (setup-go's role), then the system's directories."""
    directory.mkdir()
    for name in ("uv", "uvx"):
        found = shutil.which(name)
        assert found is not None, f"{name} is not on PATH (.ci/run installs it)"
        shutil.copy2(found, directory / name)
    go = shutil.which("go")
    assert go is not None, "Go is needed, as setup-go provides it on GitHub"
    system = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
    return f"{directory}:{Path(go).parent}:{system}"


def _ended(pid: int) -> bool:
    """Gone, or a zombie (exited; only its parent's reaping is left)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state == "Z"


def left_running(uid: int | None, home: Path) -> dict[int, str]:
    """Processes of the job's user that still run with the job's HOME: pid -> command."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if uid is not None and entry.stat().st_uid != uid:
                continue
            environ = (entry / "environ").read_bytes().split(b"\0")
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
        except OSError:
            continue
        if f"HOME={home}".encode() in environ and not _ended(int(entry.name)):
            found[int(entry.name)] = command
    return found


def stop_podman_pause(uid: int | None, home: Path) -> None:
    """Rootless Podman keeps one pause process per user to hold its namespaces; it is
    Podman's, not the job's, and goes with the job's HOME (awaited, not assumed, gone)."""
    killed = []
    for pid, command in left_running(uid, home).items():
        if command == "/usr/bin/podman" or command.endswith("podman"):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)
    wait_for_condition(
        lambda: all(_ended(pid) for pid in killed),
        timeout=30,
        description=f"podman's pause process {killed} to end",
        interval=0.05,
    )


def results(checkout: Path) -> dict[str, str]:
    data = json.loads((checkout / "artifacts/traceability/results.json").read_text())
    return {node: str(record["outcome"]) for node, record in data["tests"].items()}


@pytest.mark.requirement("CI-005")
def test_the_integration_job_passes_as_a_user_who_is_not_root() -> None:
    user = not_root()
    job_env, run = integration_job()
    with shared_directory() as work, daemon_for(user.uid) as (daemon, groups):
        checkout, home, cache = work / "checkout", work / "home", work / "cache"
        for directory in (checkout, home, cache):
            directory.mkdir()
        copy_checkout(checkout)
        share_built_binaries(cache)
        path = tool_path(work / "bin")
        give_to(user.uid, checkout, home, cache)
        env = {
            **{k: v for k, v in os.environ.items() if k in NETWORK_SETTINGS},
            "PATH": path,
            "HOME": str(home),
            "CI": "true",
            "NOX": pins.requirement("nox"),
            "TEST_CACHE_DIR": str(cache),
            "UV_PYTHON_DOWNLOADS": "never",
            "TEST_CLUSTER_NAME": "ktp-github-job",
            "PYTEST_ADDOPTS": f"--deselect {THIS_FILE}",
            **daemon.env,
            **job_env,
            BROWSER_ENV: browser(),  # the job names GitHub's Chrome; this machine's browser here
        }
        options: dict[str, Any] = user.subprocess_options | (
            {"extra_groups": groups} if user.uid is not None else {}
        )
        proc = subprocess.run(
            argv_of(run, env),
            cwd=checkout,
            env=env,
            capture_output=True,
            text=True,
            timeout=JOB_TIMEOUT_S,
            check=False,
            **options,
        )
        output = proc.stdout + proc.stderr
        stop_podman_pause(user.uid, home)
        leftovers = left_running(user.uid, home)
        assert proc.returncode == 0, output[-6000:]
        outcomes = results(checkout)

    assert job_env == {"TEST_CLUSTER_PROVIDER": "kwok", BROWSER_ENV: "google-chrome"}
    assert argv_of(run, env)[:3] == ["uvx", "--from", pins.requirement("nox")]
    # The kind tests that once could not start without root ran, against the daemon.
    kind_tests = {n: o for n, o in outcomes.items() if "test_kind_real.py" in n}
    assert len(kind_tests) >= 6
    assert set(kind_tests.values()) == {"passed"}
    assert [n for n, o in outcomes.items() if o != "passed"] == []
    assert THIS_FILE not in " ".join(outcomes)
    assert leftovers == {}  # the job's `down` and the services' teardown left nothing running
    if user.uid is not None:
        assert "not root: tests marked needs_root are deselected" in output
        assert not any("test_local_provider.py" in n for n in outcomes)
