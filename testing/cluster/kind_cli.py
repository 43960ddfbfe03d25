"""A typed wrapper around the ``kind`` binary: argv lists, timeouts, typed failures.

kind reports every failure as exit status 1 plus an ``ERROR: ...`` line on stderr,
followed by the output of the container-runtime command that failed. This module
runs kind (never through a shell, always with a timeout, output captured), and turns
the stderr patterns kind v0.32 really prints into the exceptions below, each with a
one-line message that says what to do. The captured output tail stays on the
exception (``output_tail``) for logs and diagnostics.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from testing import pins, tools
from testing.cluster.base import ClusterError

KIND_PATH_ENV = "KIND_PATH"
RUNTIME_ENV = "KIND_EXPERIMENTAL_PROVIDER"
#: Bounds for calls that only ask kind or the runtime something.
QUERY_TIMEOUT_S = 60.0
#: Image transfers and log export copy files out of or into node containers.
TRANSFER_TIMEOUT_S = 600.0
#: ``--wait`` plus room for pulling the node image (about 1 GiB) on a slow link.
CREATE_TIMEOUT_S = 1200.0
OUTPUT_TAIL_LINES = 20
_LINE_LIMIT = 300


class KindError(ClusterError):
    """A kind call failed; ``output_tail`` holds the last lines it printed."""

    def __init__(self, message: str, *, output_tail: str = "") -> None:
        super().__init__(message)
        self.output_tail = output_tail


class KindNotFoundError(KindError):
    """No kind binary at ``KIND_PATH``, on ``PATH`` or in the project cache."""


class KindVersionError(KindError):
    """The kind binary found is not the pinned version."""


class ContainerRuntimeUnavailableError(KindError):
    """The Docker or Podman daemon is not installed or does not answer."""


class NodeImageUnavailableError(KindError):
    """The pinned node image is neither present locally nor pullable."""


class ClusterNameConflictError(KindError):
    """kind refused to create a cluster whose name is already taken."""


class KindTimeoutError(KindError):
    """A kind call, or kind's own wait for the control plane, ran out of time."""


class KindCommandError(KindError):
    """Any other kind failure; the message carries kind's own ``ERROR:`` line."""


def tail(text: str, lines: int = OUTPUT_TAIL_LINES) -> str:
    """The last ``lines`` lines of ``text``, each cut to a readable length."""
    kept = text.strip().splitlines()[-lines:]
    return "\n".join(
        line if len(line) <= _LINE_LIMIT else line[: _LINE_LIMIT - 3] + "..." for line in kept
    )


def one_line(text: str, limit: int = _LINE_LIMIT) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def runtime_name(env: Mapping[str, str]) -> str:
    """``docker`` or ``podman``: the runtime kind will drive, as kind's CLI chooses it."""
    return "podman" if env.get(RUNTIME_ENV, "").strip() == "podman" else "docker"


def runtime_remedy(runtime: str) -> str:
    if runtime == "podman":
        return "start it (`podman machine start` or `systemctl --user start podman.socket`)"
    return (
        "start it (`sudo systemctl start docker`, or Docker Desktop), check DOCKER_HOST, "
        f"or use Podman with {RUNTIME_ENV}=podman"
    )


def offline_image_remedy(image: str) -> str:
    """How to get a node image onto a machine that reaches no registry."""
    return (
        f"on a connected machine run `docker pull {image}` and "
        f"`docker save {image} -o kind-node.tar`, copy the file here and run "
        "`docker load -i kind-node.tar`, or point Docker at a reachable registry mirror"
    )


def install_hint() -> str:
    version = pins.pin("kind")
    module = pins.pin("kind", "module")
    return (
        f"install kind {version}: `go install {module}@{version}` (Go 1.24+), "
        f"or the release binary for your platform from the kind {version} release page "
        f"(verify its sha256), then put it on PATH or set {KIND_PATH_ENV}"
    )


@dataclass(frozen=True)
class _Pattern:
    regex: re.Pattern[str]
    error: type[KindError]


#: kind's stderr, most specific first. The texts come from kind v0.32's source:
#: ``failed to pull image`` (providers/*/images.go), ``node(s) already exist for a
#: cluster with the name`` (create/create.go), and the runtime's own refusal that
#: kind passes through as ``Command Output``.
_PATTERNS: tuple[_Pattern, ...] = (
    _Pattern(re.compile(r"failed to pull image"), NodeImageUnavailableError),
    _Pattern(re.compile(r"already exist for a cluster with the name"), ClusterNameConflictError),
    _Pattern(
        re.compile(
            r"Cannot connect to the Docker daemon|Cannot connect to Podman|"
            r"Is the docker daemon running|failed to get (docker|podman) info|"
            r'exec: "(docker|podman)": executable file not found|'
            r"failed to detect any supported node provider"
        ),
        ContainerRuntimeUnavailableError,
    ),
)


def classify(stderr: str) -> type[KindError]:
    """The exception class for a failed kind call, from what kind printed."""
    for pattern in _PATTERNS:
        if pattern.regex.search(stderr):
            return pattern.error
    return KindCommandError


def kind_error_line(stderr: str) -> str:
    """kind's own ``ERROR: ...`` summary, or the last line it printed."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    for line in lines:
        if line.startswith("ERROR:"):
            return one_line(line.removeprefix("ERROR:").strip())
    return one_line(lines[-1]) if lines else "(no output)"


def _runtime_said(stderr: str) -> str:
    """The runtime's own words from kind's ``Command Output``, for the message."""
    for line in reversed(stderr.strip().splitlines()):
        if "Cannot connect" in line or "executable file not found" in line:
            return one_line(line)
    return kind_error_line(stderr)


class KindCLI:
    """One kind binary, checked against the pin, driven through typed methods.

    ``env`` is laid over ``os.environ`` for every call, so a caller can point kind at
    another daemon (``DOCKER_HOST``) or at Podman without touching the process.
    """

    def __init__(
        self, binary: Path, *, env: Mapping[str, str] | None = None, cwd: Path | None = None
    ) -> None:
        self.binary = binary
        self.env = {**os.environ, **(env or {})}
        self.cwd = cwd or pins.REPO_ROOT

    @property
    def runtime(self) -> str:
        return runtime_name(self.env)

    # -- finding and checking the binary ------------------------------------------------

    @classmethod
    def locate(
        cls, *, env: Mapping[str, str] | None = None, build: bool = True, check_version: bool = True
    ) -> KindCLI:
        """``KIND_PATH``, else ``kind`` on PATH, else the project cache (built with Go).

        ``build=False`` never runs ``go install``: the caller only wants to know.
        """
        merged = {**os.environ, **(env or {})}
        cli = cls(_find_binary(merged, build=build), env=env)
        if check_version:
            cli.check_version()
        return cli

    def version(self) -> str:
        """The version token of ``kind version`` (``v0.32.0`` of ``kind v0.32.0 go1.x ...``)."""
        out = self._run(["version"], timeout=QUERY_TIMEOUT_S).stdout
        match = re.search(r"\bkind (v\S+)", out)
        if match is None:
            raise KindVersionError(
                f"{self.binary} is not kind: `kind version` printed {one_line(out)!r}; "
                + install_hint(),
                output_tail=tail(out),
            )
        return match.group(1)

    def check_version(self) -> None:
        wanted = pins.pin("kind")
        found = self.version()
        if found != wanted:
            raise KindVersionError(
                f"{self.binary} is kind {found} but this project pins {wanted} "
                f"(k8s/versions.toml): {install_hint()}, or unset {KIND_PATH_ENV} / take the "
                "other kind off PATH so the project builds its own"
            )

    # -- cluster operations ---------------------------------------------------------------

    def get_clusters(self) -> list[str]:
        # "No kind clusters found." goes to stderr; stdout holds one name per line.
        out = self._run(["get", "clusters"], timeout=QUERY_TIMEOUT_S).stdout
        return [line.strip() for line in out.splitlines() if line.strip()]

    def create_cluster(
        self,
        name: str,
        *,
        config: Path,
        image: str,
        kubeconfig: Path,
        wait_seconds: int,
        retain: bool = True,
        timeout: float = CREATE_TIMEOUT_S,
    ) -> subprocess.CompletedProcess[str]:
        """``kind create cluster``; ``retain`` keeps failed nodes so logs can be exported."""
        argv = [
            "create",
            "cluster",
            "--name",
            name,
            "--config",
            str(config),
            "--image",
            image,
            "--wait",
            f"{wait_seconds}s",
            "--kubeconfig",
            str(kubeconfig),
        ]
        if retain:
            argv.append("--retain")
        result = self._run(argv, timeout=timeout, image=image)
        # kind exits 0 when its --wait runs out, with only a warning on stderr.
        if "Timed out waiting for Ready" in result.stderr:
            raise KindTimeoutError(
                f"kind cluster {name!r} was created but its control plane was not Ready within "
                f"{wait_seconds}s: the machine may be short of CPU or memory; "
                "see the exported logs",
                output_tail=tail(result.stderr),
            )
        return result

    def delete_cluster(self, name: str, *, kubeconfig: Path) -> None:
        """Delete the nodes; ``--kubeconfig`` keeps kind away from ``~/.kube/config``."""
        self._run(
            ["delete", "cluster", "--name", name, "--kubeconfig", str(kubeconfig)],
            timeout=TRANSFER_TIMEOUT_S,
        )

    def get_kubeconfig(self, name: str) -> str:
        return self._run(["get", "kubeconfig", "--name", name], timeout=QUERY_TIMEOUT_S).stdout

    def load_docker_image(self, name: str, image: str) -> None:
        self._run(["load", "docker-image", image, "--name", name], timeout=TRANSFER_TIMEOUT_S)

    def load_image_archive(self, name: str, archive: Path) -> None:
        self._run(
            ["load", "image-archive", str(archive), "--name", name], timeout=TRANSFER_TIMEOUT_S
        )

    def export_logs(self, name: str, destination: Path) -> None:
        self._run(["export", "logs", str(destination), "--name", name], timeout=TRANSFER_TIMEOUT_S)

    # -- the one place that runs kind -----------------------------------------------------

    def _run(
        self, args: Sequence[str], *, timeout: float, image: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        argv = [str(self.binary), *args]
        command = "kind " + " ".join(args[:2])
        try:
            result = subprocess.run(
                argv,
                env=self.env,
                cwd=self.cwd,
                capture_output=True,
                text=True,
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            output = _text(exc.stderr) + _text(exc.stdout)
            raise KindTimeoutError(
                f"`{command}` did not finish within {timeout:.0f}s and was stopped: "
                f"is the {self.runtime} daemon overloaded or stuck?",
                output_tail=tail(output),
            ) from None
        except OSError as exc:
            raise KindNotFoundError(
                f"cannot run {self.binary}: {exc.strerror or exc}; {install_hint()}"
            ) from None
        if result.returncode != 0:
            raise self._failure(command, result, image)
        return result

    def _failure(
        self, command: str, result: subprocess.CompletedProcess[str], image: str | None
    ) -> KindError:
        stderr = result.stderr or result.stdout
        error = classify(stderr)
        output = tail(stderr)
        if error is NodeImageUnavailableError:
            pulled = image or _quoted_image(stderr)
            return NodeImageUnavailableError(
                f"node image {pulled} cannot be pulled (no registry reachable?): "
                + offline_image_remedy(pulled),
                output_tail=output,
            )
        if error is ClusterNameConflictError:
            return ClusterNameConflictError(
                f"`{command}`: {kind_error_line(stderr)}: reuse it, pick another "
                "TEST_CLUSTER_NAME, or remove it with `python -m testing.cluster down`",
                output_tail=output,
            )
        if error is ContainerRuntimeUnavailableError:
            return ContainerRuntimeUnavailableError(
                f"the {self.runtime} daemon is not reachable ({_runtime_said(stderr)}): "
                + runtime_remedy(self.runtime),
                output_tail=output,
            )
        return KindCommandError(
            f"`{command}` failed (exit {result.returncode}): {kind_error_line(stderr)}",
            output_tail=output,
        )


def _text(data: str | bytes | None) -> str:
    if data is None:
        return ""
    return data.decode(errors="replace") if isinstance(data, bytes) else data


def _quoted_image(stderr: str) -> str:
    match = re.search(r'failed to pull image "([^"]+)"', stderr)
    return match.group(1) if match else "(unknown image)"


def _find_binary(env: Mapping[str, str], *, build: bool) -> Path:
    explicit = env.get(KIND_PATH_ENV)
    if explicit:
        path = Path(explicit)
        if not (path.is_file() and os.access(path, os.X_OK)):
            raise KindNotFoundError(f"{KIND_PATH_ENV}={explicit} is not an executable file")
        return path
    on_path = shutil.which("kind", path=env.get("PATH"))
    if on_path:
        return Path(on_path)
    tool = tools.known_tools()["kind"]
    cached = tools.cache_dir() / "tools" / f"{tool.name}-{tool.version}" / tool.name
    if cached.is_file() and os.access(cached, os.X_OK):
        return cached
    if not build or shutil.which("go", path=env.get("PATH")) is None:
        raise KindNotFoundError(f"kind not found on PATH or in {cached.parent}: {install_hint()}")
    print(
        f"kind {tool.version} not found: building it with `go install {tool.module_spec}` "
        f"into {cached.parent} (once)",
        file=sys.stderr,
        flush=True,
    )
    try:
        return tools.ensure_go_tool(tool)
    except tools.ToolError as exc:
        raise KindNotFoundError(
            f"kind not found and building it failed ({one_line(str(exc))}): {install_hint()}"
        ) from None


def check_container_runtime(
    env: Mapping[str, str] | None = None, *, timeout: float = QUERY_TIMEOUT_S
) -> str:
    """Ask the runtime kind will use whether its daemon answers; return its server version.

    kind's own messages for a dead daemon are buried in a multi-line dump; asking
    first gives one clear line and fails before anything is created.
    """
    merged = {**os.environ, **(env or {})}
    runtime = runtime_name(merged)
    binary = shutil.which(runtime, path=merged.get("PATH"))
    if binary is None:
        raise ContainerRuntimeUnavailableError(
            f"{runtime} is not installed: install Docker (Debian: `apt-get install docker.io`) "
            f"or Podman and set {RUNTIME_ENV}=podman"
        )
    fmt = "{{.Version.Version}}" if runtime == "podman" else "{{.ServerVersion}}"
    try:
        result = subprocess.run(
            [binary, "info", "--format", fmt],
            env=merged,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise ContainerRuntimeUnavailableError(
            f"`{runtime} info` did not answer within {timeout:.0f}s: " + runtime_remedy(runtime)
        ) from None
    version = result.stdout.strip()
    if result.returncode != 0 or not version:
        said = kind_error_line(result.stderr) if result.stderr.strip() else "no server version"
        raise ContainerRuntimeUnavailableError(
            f"the {runtime} daemon is not reachable ({said}): " + runtime_remedy(runtime),
            output_tail=tail(result.stderr),
        )
    return version


def cgroup_version(env: Mapping[str, str] | None = None) -> int:
    """The cgroup version of the host the runtime's containers run on (1 or 2).

    Asked of the daemon, not read from this machine: with Docker Desktop or a remote
    DOCKER_HOST the nodes run on another kernel.
    """
    merged = {**os.environ, **(env or {})}
    runtime = runtime_name(merged)
    fmt = "{{.Host.CgroupsVersion}}" if runtime == "podman" else "{{.CgroupVersion}}"
    said = _runtime_output(runtime, ["info", "--format", fmt], merged, QUERY_TIMEOUT_S)
    return 1 if said.strip().lstrip("v") == "1" else 2


def load_image_archive(reference: str, archive: Path, env: Mapping[str, str] | None = None) -> bool:
    """``docker load`` (or ``podman load``) ``archive`` unless ``reference`` is there already;
    True when it loaded. A node image must be in the runtime before kind can use it."""
    merged = {**os.environ, **(env or {})}
    runtime = runtime_name(merged)
    try:
        _runtime_output(runtime, ["image", "inspect", reference], merged, QUERY_TIMEOUT_S)
    except ContainerRuntimeUnavailableError:
        _runtime_output(runtime, ["load", "--input", str(archive)], merged, TRANSFER_TIMEOUT_S)
        return True
    return False


def _runtime_output(runtime: str, args: list[str], env: dict[str, str], timeout: float) -> str:
    binary = shutil.which(runtime, path=env.get("PATH"))
    if binary is None:
        raise ContainerRuntimeUnavailableError(f"{runtime} is not installed")
    try:
        result = subprocess.run(
            [binary, *args], env=env, capture_output=True, text=True, timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired:
        raise ContainerRuntimeUnavailableError(
            f"`{runtime} {args[0]}` did not finish within {timeout:.0f}s"
        ) from None
    if result.returncode != 0:
        raise ContainerRuntimeUnavailableError(
            f"`{runtime} {' '.join(args[:2])}` failed: {kind_error_line(result.stderr)}",
            output_tail=tail(result.stderr),
        )
    return result.stdout


__all__ = [
    "ClusterNameConflictError",
    "ContainerRuntimeUnavailableError",
    "KindCLI",
    "KindCommandError",
    "KindError",
    "KindNotFoundError",
    "KindTimeoutError",
    "KindVersionError",
    "NodeImageUnavailableError",
    "cgroup_version",
    "check_container_runtime",
    "classify",
    "load_image_archive",
]
