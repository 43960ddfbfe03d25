"""The kind wrapper: binary resolution, version pin, argv, timeouts and typed failures.

kind and docker are the scripted fakes of fake_kind.py (no cluster can be created in
a unit test); their outputs are the texts the real kind v0.32.0 printed here. The
real binaries are driven in tests/integration/cluster/test_kind_real.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from fake_kind import (
    DAEMON_DOWN,
    KIND_VERSION_OUT,
    NAME_TAKEN,
    PULL_FAILED,
    WAIT_RAN_OUT,
    FakeCommand,
    path_with,
)

from testing import pins
from testing.cluster.base import ClusterError
from testing.cluster.kind_cli import (
    ClusterNameConflictError,
    ContainerRuntimeUnavailableError,
    KindCLI,
    KindCommandError,
    KindNotFoundError,
    KindTimeoutError,
    KindVersionError,
    NodeImageUnavailableError,
    check_container_runtime,
    classify,
)

IMAGE = pins.pin("kind", "node_image")


@pytest.fixture
def bin_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A PATH holding only the fakes (plus the system), no KIND_PATH, an empty tool cache."""
    monkeypatch.delenv("KIND_PATH", raising=False)
    monkeypatch.delenv("KIND_EXPERIMENTAL_PROVIDER", raising=False)
    monkeypatch.setenv("TEST_CACHE_DIR", str(tmp_path / "cache"))
    directory = tmp_path / "bin"
    directory.mkdir()
    monkeypatch.setenv("PATH", path_with(directory))
    return directory


@pytest.fixture
def kind(bin_dir: Path) -> FakeCommand:
    return FakeCommand(bin_dir, "kind").on("version", stdout=KIND_VERSION_OUT)


def _cli(kind: FakeCommand) -> KindCLI:
    return KindCLI(kind.path)


def test_locate_finds_kind_on_path_and_checks_the_pinned_version(kind: FakeCommand) -> None:
    cli = KindCLI.locate(build=False)
    assert cli.binary == kind.path
    assert cli.version() == pins.pin("kind") == "v0.32.0"
    assert kind.calls() == [["version"], ["version"]]


def test_kind_path_wins_over_path(
    kind: FakeCommand, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    other = FakeCommand(tmp_path / "other", "kind").on("version", stdout=KIND_VERSION_OUT)
    monkeypatch.setenv("KIND_PATH", str(other.path))
    assert KindCLI.locate(build=False).binary == other.path
    assert kind.calls() == []
    assert other.calls() == [["version"]]


def test_kind_path_that_is_not_a_file_is_one_line(
    bin_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KIND_PATH", str(tmp_path / "missing-kind"))
    with pytest.raises(KindNotFoundError) as info:
        KindCLI.locate(build=False)
    assert str(info.value) == f"KIND_PATH={tmp_path / 'missing-kind'} is not an executable file"


@pytest.mark.requirement("CLU-007")
def test_missing_kind_says_how_to_install_the_pinned_version(bin_dir: Path) -> None:
    with pytest.raises(KindNotFoundError) as info:
        KindCLI.locate(build=False)
    message = str(info.value)
    assert "go install sigs.k8s.io/kind@v0.32.0" in message
    assert "KIND_PATH" in message
    assert "\n" not in message


def test_kind_in_the_project_cache_is_used_without_building(bin_dir: Path, tmp_path: Path) -> None:
    cached = FakeCommand(tmp_path / "cache" / "tools" / "kind-v0.32.0", "kind")
    cached.on("version", stdout=KIND_VERSION_OUT)
    assert KindCLI.locate(build=False).binary == cached.path


@pytest.mark.requirement("CLU-007")
def test_wrong_version_names_both_versions_and_the_remedy(kind: FakeCommand) -> None:
    kind.rules.clear()
    kind.on("version", stdout="kind v0.29.0 go1.24.2 linux/amd64\n")
    with pytest.raises(KindVersionError) as info:
        KindCLI.locate(build=False)
    message = str(info.value)
    assert "is kind v0.29.0 but this project pins v0.32.0" in message
    assert "go install sigs.k8s.io/kind@v0.32.0" in message


def test_a_binary_that_is_not_kind_is_a_version_error(kind: FakeCommand) -> None:
    kind.rules.clear()
    kind.on("version", stdout="something else 1.0\n")
    with pytest.raises(KindVersionError, match="is not kind"):
        KindCLI.locate(build=False)


def test_get_clusters_reads_names_from_stdout(kind: FakeCommand) -> None:
    kind.on("get", "clusters", stdout="alpha\nktp\n")
    assert _cli(kind).get_clusters() == ["alpha", "ktp"]


def test_get_clusters_with_none_is_empty(kind: FakeCommand) -> None:
    kind.on("get", "clusters", stderr="No kind clusters found.\n")
    assert _cli(kind).get_clusters() == []


def test_create_passes_the_whole_argv(kind: FakeCommand, tmp_path: Path) -> None:
    kind.on("create", "cluster", stderr='Creating cluster "c1" ...\n')
    _cli(kind).create_cluster(
        "c1",
        config=tmp_path / "kind.yaml",
        image=IMAGE,
        kubeconfig=tmp_path / "kc",
        wait_seconds=42,
    )
    assert kind.calls()[-1] == [
        "create", "cluster", "--name", "c1", "--config", str(tmp_path / "kind.yaml"),
        "--image", IMAGE, "--wait", "42s", "--kubeconfig", str(tmp_path / "kc"), "--retain",
    ]  # fmt: skip


@pytest.mark.requirement("CLU-007")
def test_unpullable_node_image_names_the_image_and_the_offline_remedy(
    kind: FakeCommand, tmp_path: Path
) -> None:
    kind.on("create", "cluster", stderr=PULL_FAILED.format(name="c1", image=IMAGE), exit=1)
    with pytest.raises(NodeImageUnavailableError) as info:
        _cli(kind).create_cluster(
            "c1", config=tmp_path / "k.yaml", image=IMAGE, kubeconfig=tmp_path / "kc",
            wait_seconds=1,
        )  # fmt: skip
    message = str(info.value)
    assert message.startswith(f"node image {IMAGE} cannot be pulled")
    assert f"docker pull {IMAGE}" in message
    assert "docker load -i kind-node.tar" in message
    assert "registry mirror" in message
    assert "\n" not in message
    assert "registry-1.docker.io" in info.value.output_tail


@pytest.mark.requirement("CLU-007")
def test_taken_name_is_a_conflict(kind: FakeCommand, tmp_path: Path) -> None:
    kind.on("create", "cluster", stderr=NAME_TAKEN.format(name="c1"), exit=1)
    with pytest.raises(ClusterNameConflictError) as info:
        _cli(kind).create_cluster(
            "c1", config=tmp_path / "k.yaml", image=IMAGE, kubeconfig=tmp_path / "kc",
            wait_seconds=1,
        )  # fmt: skip
    assert 'already exist for a cluster with the name "c1"' in str(info.value)
    assert "TEST_CLUSTER_NAME" in str(info.value)


@pytest.mark.requirement("CLU-007")
def test_daemon_down_is_a_runtime_error_with_the_daemon_words(kind: FakeCommand) -> None:
    kind.on("get", "clusters", stderr=DAEMON_DOWN, exit=1)
    with pytest.raises(ContainerRuntimeUnavailableError) as info:
        _cli(kind).get_clusters()
    message = str(info.value)
    assert message.startswith("the docker daemon is not reachable (Command Output: Cannot connect")
    assert "KIND_EXPERIMENTAL_PROVIDER=podman" in message
    assert "\n" not in message


@pytest.mark.requirement("CLU-007")
def test_wait_running_out_is_a_timeout_although_kind_exits_zero(
    kind: FakeCommand, tmp_path: Path
) -> None:
    kind.on("create", "cluster", stderr=WAIT_RAN_OUT.format(name="c1"), exit=0)
    with pytest.raises(KindTimeoutError, match="not Ready within 180s"):
        _cli(kind).create_cluster(
            "c1", config=tmp_path / "k.yaml", image=IMAGE, kubeconfig=tmp_path / "kc",
            wait_seconds=180,
        )  # fmt: skip


@pytest.mark.requirement("CLU-007")
def test_a_hung_kind_is_stopped_at_the_timeout(kind: FakeCommand, tmp_path: Path) -> None:
    kind.on("create", "cluster", stderr="Creating cluster\n", hang_seconds=30)
    with pytest.raises(KindTimeoutError) as info:
        _cli(kind).create_cluster(
            "c1", config=tmp_path / "k.yaml", image=IMAGE, kubeconfig=tmp_path / "kc",
            wait_seconds=1, timeout=1.5,
        )  # fmt: skip
    assert str(info.value).startswith("`kind create cluster` did not finish within 2s")


def test_other_failures_carry_kinds_error_line(kind: FakeCommand) -> None:
    kind.on("load", "docker-image", stderr='ERROR: image: "app:1" not present locally\n', exit=1)
    with pytest.raises(KindCommandError) as info:
        _cli(kind).load_docker_image("c1", "app:1")
    assert str(info.value) == (
        '`kind load docker-image` failed (exit 1): image: "app:1" not present locally'
    )


def test_transfer_commands_pass_name_and_paths(kind: FakeCommand, tmp_path: Path) -> None:
    kind.on("load").on("export").on("delete").on("get", "kubeconfig", stdout="apiVersion: v1\n")
    cli = _cli(kind)
    cli.load_docker_image("c1", "app:1")
    cli.load_image_archive("c1", tmp_path / "images.tar")
    cli.export_logs("c1", tmp_path / "logs")
    cli.delete_cluster("c1", kubeconfig=tmp_path / "kc")
    assert cli.get_kubeconfig("c1") == "apiVersion: v1\n"
    assert kind.calls() == [
        ["load", "docker-image", "app:1", "--name", "c1"],
        ["load", "image-archive", str(tmp_path / "images.tar"), "--name", "c1"],
        ["export", "logs", str(tmp_path / "logs"), "--name", "c1"],
        ["delete", "cluster", "--name", "c1", "--kubeconfig", str(tmp_path / "kc")],
        ["get", "kubeconfig", "--name", "c1"],
    ]


def test_kind_runs_in_the_repository_root(kind: FakeCommand) -> None:
    """kind resolves the kind config's relative extraMounts against its working directory."""
    kind.on("get", "clusters")
    _cli(kind).get_clusters()
    assert kind.entries()[-1]["cwd"] == str(pins.REPO_ROOT)


@pytest.mark.parametrize(
    ("stderr", "expected"),
    [
        (PULL_FAILED.format(name="x", image=IMAGE), NodeImageUnavailableError),
        (NAME_TAKEN.format(name="x"), ClusterNameConflictError),
        (DAEMON_DOWN, ContainerRuntimeUnavailableError),
        ("ERROR: failed to get podman info: x", ContainerRuntimeUnavailableError),
        ('ERROR: exec: "docker": executable file not found', ContainerRuntimeUnavailableError),
        ("ERROR: unknown flag: --nope", KindCommandError),
    ],
)  # fmt: skip
def test_classify_maps_kinds_words_to_types(stderr: str, expected: type[ClusterError]) -> None:
    assert classify(stderr) is expected


def test_runtime_check_reports_a_dead_docker_daemon(bin_dir: Path) -> None:
    docker = FakeCommand(bin_dir, "docker").on(
        "info",
        stderr="Cannot connect to the Docker daemon at unix:///x.sock. Is the daemon running?\n",
        exit=1,
    )
    with pytest.raises(ContainerRuntimeUnavailableError) as info:
        check_container_runtime()
    assert str(info.value).startswith(
        "the docker daemon is not reachable (Cannot connect to the Docker daemon at unix:///x.sock"
    )
    assert docker.calls() == [["info", "--format", "{{.ServerVersion}}"]]


def test_runtime_check_returns_the_server_version(bin_dir: Path) -> None:
    FakeCommand(bin_dir, "docker").on("info", stdout="20.10.24+dfsg1\n")
    assert check_container_runtime() == "20.10.24+dfsg1"


@pytest.mark.requirement("CLU-010")
def test_runtime_check_asks_podman_when_kind_is_told_to_use_it(bin_dir: Path) -> None:
    podman = FakeCommand(bin_dir, "podman").on("info", stdout="5.4.0\n")
    assert check_container_runtime({"KIND_EXPERIMENTAL_PROVIDER": "podman"}) == "5.4.0"
    assert podman.calls() == [["info", "--format", "{{.Version.Version}}"]]


def test_runtime_missing_says_what_to_install(bin_dir: Path) -> None:
    with pytest.raises(ContainerRuntimeUnavailableError) as info:
        check_container_runtime({"PATH": str(bin_dir)})
    assert str(info.value).startswith("docker is not installed: install Docker")
