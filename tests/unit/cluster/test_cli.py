"""``python -m testing.cluster``: exit codes, one-line errors, kubeconfig on stdout, Ctrl-C.

Each test runs the real CLI in a subprocess. kind and docker are the scripted fakes
of fake_kind.py (no cluster can be created in a unit test); the real binaries are
driven in tests/integration/cluster/test_kind_real.py.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fake_kind import (
    DAEMON_DOWN,
    KIND_VERSION_OUT,
    PULL_FAILED,
    FakeCommand,
    kubeconfig_for,
    path_with,
    ready_api,
)

from testing import pins
from testing.cluster.base import ClusterConfig

IMAGE = pins.pin("kind", "node_image")


@dataclass
class Cli:
    kind: FakeCommand
    docker: FakeCommand
    env: dict[str, str]
    name: str
    state: Path

    def run(self, *args: str, **extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "testing.cluster", *args],
            env={**self.env, **extra},
            cwd=pins.REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    @property
    def kubeconfig(self) -> Path:
        return self.state / self.name / "kubeconfig"


@pytest.fixture
def cli(tmp_path: Path) -> Iterator[Cli]:
    bin_dir = tmp_path / "bin"
    kind = FakeCommand(bin_dir, "kind").on("version", stdout=KIND_VERSION_OUT)
    docker = FakeCommand(bin_dir, "docker").on("info", stdout="20.10.24\n")
    name = f"cli-{uuid.uuid4().hex[:8]}"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KIND_", "TEST_", "KUBE"))}
    env |= {
        "PATH": path_with(bin_dir),
        "TEST_CLUSTER_PROVIDER": "kind",
        "TEST_CLUSTER_NAME": name,
        "TEST_STATE_DIR": str(tmp_path / "state"),
        "TEST_CACHE_DIR": str(tmp_path / "cache"),
        # The pinned node image, and a Docker the user chose: no registry probe, no own dockerd.
        "TEST_IMAGE_SOURCE": "pinned",
        "DOCKER_HOST": "unix:///nonexistent/docker.sock",
        "CONTAINERS_CONF": str(tmp_path / "users-containers.conf"),
    }
    yield Cli(kind, docker, env, name, tmp_path / "state")
    # `up` failures write into the repository's artifacts/diagnostics/<name>/
    shutil.rmtree(ClusterConfig(name=name).diagnostics_dir, ignore_errors=True)


def _one_error_line(result: subprocess.CompletedProcess[str]) -> str:
    """The whole stderr of a failed command: exactly one ``error:`` line, no traceback."""
    assert result.returncode == 1, result.stderr
    lines = result.stderr.splitlines()
    assert "Traceback" not in result.stderr
    assert len([line for line in lines if line.startswith("error: ")]) == 1
    return next(line for line in lines if line.startswith("error: "))


@pytest.mark.requirement("CLU-005")
def test_up_prints_the_kubeconfig_path_last(cli: Cli) -> None:
    with ready_api() as (server, _):
        cli.kind.on("get", "clusters")
        cli.kind.on("create", "cluster", write_file=kubeconfig_for(server))
        result = cli.run("up")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == str(cli.kubeconfig)
    assert cli.kubeconfig.is_file()


@pytest.mark.requirement("CLU-005")
def test_up_twice_reuses(cli: Cli) -> None:
    with ready_api() as (server, _):
        cli.kind.on("get", "clusters", once=True)
        cli.kind.on("create", "cluster", write_file=kubeconfig_for(server))
        cli.kind.on("get", "clusters", stdout=f"{cli.name}\n")
        cli.kind.on("get", "kubeconfig", stdout=kubeconfig_for(server))
        assert cli.run("up").returncode == 0
        assert cli.run("up").returncode == 0
    creates = [argv for argv in cli.kind.calls() if argv[:2] == ["create", "cluster"]]
    assert len(creates) == 1


@pytest.mark.requirement("CLU-008")
def test_up_with_an_unpullable_image_is_one_line_and_leaves_diagnostics(cli: Cli) -> None:
    cli.kind.on("get", "clusters", once=True)
    cli.kind.on("create", "cluster", stderr=PULL_FAILED.format(name=cli.name, image=IMAGE), exit=1)
    cli.kind.on("get", "clusters", stdout=f"{cli.name}\n").on("export").on("delete")
    line = _one_error_line(cli.run("up"))
    diagnostics = ClusterConfig(name=cli.name).diagnostics_dir
    assert line.startswith(f"error: node image {IMAGE} cannot be pulled")
    assert "docker load -i kind-node.tar" in line
    assert line.endswith(f"(diagnostics: {diagnostics})")
    assert (diagnostics / "kind-create.log").is_file()
    assert ["export", "logs", str(diagnostics / "kind-logs"), "--name", cli.name] in (
        cli.kind.calls()
    )


@pytest.mark.requirement("CLU-006")
def test_ctrl_c_during_up_exits_130_after_deleting(cli: Cli) -> None:
    cli.kind.on("get", "clusters")
    cli.kind.on("create", "cluster", interrupt_parent=True)
    cli.kind.on("delete", "cluster")
    result = cli.run("up")
    assert result.returncode == 130
    assert (
        result.stderr.splitlines()[-1]
        == "error: interrupted (Ctrl-C); cleaned up what was half made"
    )
    assert "Traceback" not in result.stderr
    assert cli.kind.calls()[-1] == [
        "delete", "cluster", "--name", cli.name, "--kubeconfig", str(cli.kubeconfig),
    ]  # fmt: skip


@pytest.mark.requirement("CLU-007")
def test_dead_daemon_is_one_line(cli: Cli) -> None:
    cli.docker.rules.clear()
    cli.docker.on("info", stderr=DAEMON_DOWN.split("Command Output: ")[1], exit=1)
    line = _one_error_line(cli.run("up"))
    assert line.startswith("error: the docker daemon is not reachable (Cannot connect")


@pytest.mark.requirement("CLU-007")
def test_missing_kind_is_one_line_with_the_install_command(cli: Cli, tmp_path: Path) -> None:
    """With no kind and no Go (PATH holds only the fakes' dir) nothing can be built."""
    cli.kind.path.unlink()
    line = _one_error_line(cli.run("status", PATH=str(tmp_path / "bin")))
    assert "go install sigs.k8s.io/kind@v0.32.0" in line


@pytest.mark.requirement("CLU-007")
def test_wrong_kind_version_is_one_line(cli: Cli) -> None:
    cli.kind.rules.clear()
    cli.kind.on("version", stdout="kind v0.31.0 go1.25 linux/amd64\n")
    line = _one_error_line(cli.run("status"))
    assert "is kind v0.31.0 but this project pins v0.32.0" in line


def test_unknown_provider_is_one_line(cli: Cli) -> None:
    line = _one_error_line(cli.run("status", TEST_CLUSTER_PROVIDER="minikube"))
    assert line == (
        "error: TEST_CLUSTER_PROVIDER='minikube' is not a provider; "
        "choose one of kind, local, kwok, existing"
    )


def test_invalid_name_is_one_line(cli: Cli) -> None:
    line = _one_error_line(cli.run("status", TEST_CLUSTER_NAME="Bad_Name"))
    assert line.startswith("error: cluster name 'Bad_Name' is not valid")


def test_status_and_down(cli: Cli) -> None:
    cli.kind.on("get", "clusters", stdout=f"{cli.name}\n").on("delete", "cluster")
    status = cli.run("status")
    assert status.stdout == f"kind cluster {cli.name!r}: exists\n"
    lock = cli.state / f"{cli.name}.lock"
    lock.parent.mkdir(parents=True, exist_ok=True)
    lock.touch()  # left by a test run's create-or-reuse lock
    down = cli.run("down")
    assert down.returncode == 0
    assert cli.kind.calls()[-1][:4] == ["delete", "cluster", "--name", cli.name]
    assert not lock.exists()


def test_kubeconfig_before_up_is_one_line(cli: Cli) -> None:
    line = _one_error_line(cli.run("kubeconfig"))
    assert (
        line == f"error: {cli.kubeconfig} does not exist: run `python -m testing.cluster up` first"
    )


def test_load_image_and_export_logs(cli: Cli, tmp_path: Path) -> None:
    cli.kind.on("load").on("export")
    archive = tmp_path / "img.tar"
    archive.write_bytes(b"tar")
    assert cli.run("load-image", "app:1").returncode == 0
    assert cli.run("load-image", "--archive", str(archive)).returncode == 0
    logs = cli.run("export-logs", "--dest", str(tmp_path / "logs"))
    assert logs.stdout.strip() == str(tmp_path / "logs")
    assert [argv for argv in cli.kind.calls() if argv[0] != "version"] == [
        ["load", "docker-image", "app:1", "--name", cli.name],
        ["load", "image-archive", str(archive), "--name", cli.name],
        ["export", "logs", str(tmp_path / "logs"), "--name", cli.name],
    ]


@pytest.mark.requirement("CLU-009")
def test_existing_without_kubeconfig_is_one_line(cli: Cli) -> None:
    line = _one_error_line(cli.run("up", TEST_CLUSTER_PROVIDER="existing"))
    assert line.startswith("error: KUBECONFIG is not set")


@pytest.mark.requirement("CLU-009")
def test_existing_up_and_down_touch_only_local_files(cli: Cli, tmp_path: Path) -> None:
    with ready_api() as (server, _):
        source = tmp_path / "user-kubeconfig"
        source.write_text(kubeconfig_for(server, context="team-cluster"))
        env = {"TEST_CLUSTER_PROVIDER": "existing", "KUBECONFIG": str(source)}
        up = cli.run("up", **env)
    assert up.returncode == 0, up.stderr
    assert up.stdout.splitlines()[-1] == str(cli.kubeconfig)
    assert cli.run("down", **env).returncode == 0
    assert not cli.kubeconfig.exists()
    assert source.read_text() == kubeconfig_for(server, context="team-cluster")


def test_unwritable_state_dir_is_one_line(cli: Cli, tmp_path: Path) -> None:
    """TEST_STATE_DIR under a regular file: the local state cannot be written."""
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    with ready_api() as (server, _):
        source = tmp_path / "user-kubeconfig"
        source.write_text(kubeconfig_for(server, context="team-cluster"))
        env = {
            "TEST_CLUSTER_PROVIDER": "existing",
            "KUBECONFIG": str(source),
            "TEST_STATE_DIR": str(blocker / "state"),
        }
        line = _one_error_line(cli.run("up", **env))
    assert line.startswith("error: [Errno 20] Not a directory: ")
    assert str(blocker) in line
    assert blocker.read_text() == ""
