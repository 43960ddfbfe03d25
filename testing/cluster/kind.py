"""The ``kind`` provider: a Kind cluster in Docker or Podman, created once and reused.

``create`` reuses a cluster of the same name (``kind get clusters``) instead of
creating a second one, writes the kubeconfig only to the project-local file
(``kind create --kubeconfig`` / ``kind get kubeconfig``), and ends with the same
API readiness wait as every provider. A failed create exports kind's logs into the
diagnostics folder and deletes the nodes; Ctrl-C deletes them too, so neither
leaves a half-made cluster.

The node image follows the image source (:func:`testing.images.choose_source`):
the pinned ``kindest/node`` where its registry answers, else one built here
(:mod:`testing.images.kind_node`) and loaded into the runtime, with the kubeadm
patches that point kubeadm at the images it carries. On a cgroup v1 host the
kubelet is told not to refuse it (``failCgroupV1: false``). Where no Docker daemon
answers and the user is root on Linux, the cluster starts a dockerd of its own
(:func:`testing.cluster.docker_daemon.start_cluster_daemon`), which ``delete``
stops and removes with everything it stored; with rootful Podman on a host whose
root lacks CAP_SYS_RESOURCE it writes its own Podman set-up
(:mod:`testing.cluster.podman_setup`), which ``delete`` removes.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
from collections.abc import Mapping
from pathlib import Path

import yaml

from testing import pins, runc_wrapper
from testing.cluster import docker_daemon, podman_setup
from testing.cluster.base import ClusterConfig, ClusterError, ClusterProvider, ConfigError
from testing.cluster.kind_cli import (
    ClusterNameConflictError,
    ContainerRuntimeUnavailableError,
    KindCLI,
    KindError,
    cgroup_version,
    check_container_runtime,
    load_image_archive,
    runtime_name,
)

#: How long ``kind create --wait`` waits for the control-plane node to be Ready.
KIND_WAIT_S = 180
KIND_CONFIG = pins.REPO_ROOT / "k8s" / "kind-config.yaml"
#: kubelet 1.35+ refuses cgroup v1 unless told otherwise; only added on such hosts.
CGROUP_V1_PATCH = "kind: KubeletConfiguration\nfailCgroupV1: false\n"


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


class KindProvider(ClusterProvider):
    """A kind cluster named ``config.name``; ``env`` is laid over the environment for kind."""

    name = "kind"
    runs_containers = True

    def __init__(
        self,
        config: ClusterConfig,
        *,
        env: Mapping[str, str] | None = None,
        kind_config: Path = KIND_CONFIG,
        node_image: str | None = None,
        cli: KindCLI | None = None,
    ) -> None:
        super().__init__(config)
        self._env = dict(env or {})
        self.kind_config = kind_config
        self._node_image = node_image
        self._cli = cli
        self.daemon_paths = docker_daemon.cluster_daemon_paths(config.cluster_dir)
        self.podman_paths = podman_setup.cluster_podman_paths(config.cluster_dir)
        if self._runtime() == "podman":
            if podman_setup.configured(self.podman_paths):
                self._env.update(self.podman_paths.env)
        elif self._may_own_daemon() and docker_daemon.running_cluster_daemon(self.daemon_paths):
            self._env["DOCKER_HOST"] = self.daemon_paths.host

    @property
    def cli(self) -> KindCLI:
        """The pinned kind binary, found (or built) on first use."""
        if self._cli is None:
            self._cli = KindCLI.locate(env=self._env)
        return self._cli

    def exists(self) -> bool:
        return self.config.name in self.cli.get_clusters()

    def kubeconfig_path(self) -> Path:
        return self.config.kubeconfig

    def create(self, *, wait_seconds: float = 300) -> Path:
        had_setup = self._has_runtime_setup()
        try:
            return self._create(wait_seconds)
        except BaseException:
            # A dockerd or Podman set-up this call brought goes with the failure: the
            # paths below that discard the nodes remove it too; this covers the rest
            # (locating kind, listing clusters, a missing config, Ctrl-C there).
            if not had_setup and self._has_runtime_setup() and not self._cluster_kept():
                self._remove_runtime_setup()
                shutil.rmtree(self.config.cluster_dir, ignore_errors=True)
            raise

    def _has_runtime_setup(self) -> bool:
        return any(
            path.exists()
            for path in (
                self.daemon_paths.run,
                self.daemon_paths.data,
                self.podman_paths.run,
                self.podman_paths.data,
            )
        )

    def _cluster_kept(self) -> bool:
        """Whether a cluster of this name runs in the cluster's own runtime (a reused one)."""
        try:
            return self.config.name in self.cli.get_clusters()
        except ClusterError:
            return False

    def _create(self, wait_seconds: float) -> Path:
        self._ensure_runtime()
        cli = self.cli
        kubeconfig = self.kubeconfig_path()
        kubeconfig.parent.mkdir(parents=True, exist_ok=True)
        if self.config.name in cli.get_clusters():
            _write_private(kubeconfig, cli.get_kubeconfig(self.config.name))
            try:
                self.wait_until_ready(timeout=wait_seconds)
            except ClusterError as exc:  # a reused cluster is kept: only collect its logs
                raise _with_note(exc, self._collect(exc, discard=False)) from None
            return kubeconfig
        if not self.kind_config.is_file():
            raise ConfigError(f"kind config {self.kind_config} is missing; restore it from git")
        try:
            node_image, patches = self._node_image_and_patches()
            cli.create_cluster(
                self.config.name,
                config=self._config_with(patches),
                image=node_image,
                kubeconfig=kubeconfig,
                wait_seconds=int(min(KIND_WAIT_S, wait_seconds)),
            )
            kubeconfig.chmod(0o600)
            self.wait_until_ready(timeout=wait_seconds)
        except KeyboardInterrupt:
            self._discard()
            raise
        except ClusterError as exc:
            if isinstance(exc, ClusterNameConflictError):
                raise  # someone else's cluster: never export or delete it
            raise _with_note(exc, self._collect(exc, discard=True)) from None
        return kubeconfig

    def delete(self) -> None:
        # The local kubeconfig goes first: kind refuses to delete when the file it is
        # told to edit is unreadable. --kubeconfig keeps kind away from ~/.kube/config.
        self.kubeconfig_path().unlink(missing_ok=True)
        owned = docker_daemon.running_cluster_daemon(self.daemon_paths)
        if owned is not None or not self._may_own_daemon() or self._runtime_answers():
            self.cli.delete_cluster(self.config.name, kubeconfig=self.kubeconfig_path())
        self._remove_runtime_setup()
        shutil.rmtree(self.config.cluster_dir, ignore_errors=True)

    # -- the container runtime and the node image -----------------------------------------

    def _runtime(self) -> str:
        return runtime_name({**os.environ, **self._env})

    def _needs_own_podman_setup(self) -> bool:
        """Rootful Podman on a host whose root lacks CAP_SYS_RESOURCE, with no Podman
        configuration chosen by the user: the cluster brings its own."""
        merged = {**os.environ, **self._env}
        return (
            self._runtime() == "podman"
            and sys.platform == "linux"
            and os.geteuid() == 0
            and runc_wrapper.needs_wrapper()
            and not merged.get("CONTAINER_HOST")  # a remote Podman has its own configuration
            and merged.get("CONTAINERS_CONF", "") in ("", str(self.podman_paths.containers_conf))
        )

    def _may_own_daemon(self) -> bool:
        """Whether this cluster may run a dockerd of its own: Docker (not Podman), no
        DOCKER_HOST chosen by the user, root on Linux, dockerd installed."""
        merged = {**os.environ, **self._env}
        return (
            runtime_name(merged) == "docker"
            and merged.get("DOCKER_HOST", "") in ("", self.daemon_paths.host)
            and sys.platform == "linux"
            and os.geteuid() == 0
            and shutil.which("dockerd") is not None
        )

    def _runtime_answers(self) -> bool:
        try:
            check_container_runtime(self._env)
        except ContainerRuntimeUnavailableError:
            return False
        return True

    def _ensure_runtime(self) -> None:
        """The runtime answers: as it is, with the cluster's own Podman set-up (rootful Podman
        where root lacks CAP_SYS_RESOURCE), or as the cluster's own dockerd (root, Docker,
        nothing running); else one line saying what is missing."""
        wrote_podman_setup = False
        if self._needs_own_podman_setup() and not podman_setup.configured(self.podman_paths):
            podman_setup.write(self.podman_paths)
            wrote_podman_setup = True
            self._env.update(self.podman_paths.env)
            self._cli = None
            _say(
                "kind: this host's root lacks CAP_SYS_RESOURCE, so Podman runs this cluster "
                f"with the runc wrapper and its own storage ({self.podman_paths.data}); "
                "`down` removes them"
            )
        try:
            check_container_runtime(self._env)
        except ContainerRuntimeUnavailableError:
            if wrote_podman_setup:
                podman_setup.remove(self.podman_paths, {**os.environ, **self._env})
                shutil.rmtree(self.config.cluster_dir, ignore_errors=True)
            if not self._may_own_daemon():
                raise
            daemon = docker_daemon.start_cluster_daemon(self.daemon_paths)
            self._env["DOCKER_HOST"] = daemon.host
            self._cli = None  # located again with the daemon in its environment
            _say(
                f"kind: no Docker daemon answers, so this cluster runs its own dockerd "
                f"{daemon.version} at {daemon.host} (data in {self.daemon_paths.data}); "
                "`down` stops it and removes its data"
            )

    @property
    def node_image(self) -> str:
        return self._node_image or pins.pin("kind", "node_image")

    def _node_image_and_patches(self) -> tuple[str, list[str]]:
        """The node image to create from, loaded where it is built here, and the kubeadm
        patches it needs (the built image's repository; failCgroupV1 on cgroup v1)."""
        from testing import images  # noqa: PLC0415 - only when a cluster is created
        from testing.images import kind_node  # noqa: PLC0415

        patches: list[str] = []
        if cgroup_version(self._env) == 1:
            _say("kind: the nodes' host uses cgroup v1, so the kubelet gets failCgroupV1: false")
            patches.append(CGROUP_V1_PATCH)
        if self._node_image is not None:
            return self._node_image, patches
        try:
            choice = images.choose_source(self.name, {**os.environ, **self._env})
        except images.ImageError as exc:
            raise ConfigError(str(exc)) from None
        _say(f"kind: node image from the {choice.source} source ({choice.reason})")
        if choice.source == "pinned":
            return self.node_image, patches
        from testing.cluster.k8s_binaries import ensure_binaries  # noqa: PLC0415

        try:
            reference, archive = kind_node.node_archive(ensure_binaries().directory)
        except images.ImageError as exc:
            raise ConfigError(str(exc)) from None
        if load_image_archive(reference, archive, self._env):
            _say(f"kind: loaded {reference} into {runtime_name({**os.environ, **self._env})}")
        return reference, [*kind_node.kubeadm_patches(), *patches]

    def _config_with(self, patches: list[str]) -> Path:
        """The kind config, with ``patches`` added as kubeadmConfigPatches if there are any."""
        if not patches:
            return self.kind_config
        config = yaml.safe_load(self.kind_config.read_text(encoding="utf-8")) or {}
        config["kubeadmConfigPatches"] = [*(config.get("kubeadmConfigPatches") or []), *patches]
        target = self.config.cluster_dir / "kind-config.yaml"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(
            f"# Generated from {self.kind_config.name} by testing.cluster.kind; do not edit.\n"
            + yaml.safe_dump(config, sort_keys=False),
            encoding="utf-8",
        )
        return target

    def wait_until_ready(self, *, timeout: float = 120) -> None:
        from testing.cluster.readiness import wait_for_api_ready  # noqa: PLC0415 - heavy import

        wait_for_api_ready(self.kubeconfig_path(), timeout=timeout, context=None)

    def load_image(self, image: str) -> None:
        self.cli.load_docker_image(self.config.name, image)

    def load_image_archive(self, archive: Path) -> None:
        if not archive.is_file():
            raise ConfigError(f"image archive {archive} does not exist (make it with docker save)")
        self.cli.load_image_archive(self.config.name, archive.resolve())

    def export_logs(self, destination: Path | None = None) -> Path:
        target = destination or self.config.diagnostics_dir
        target.mkdir(parents=True, exist_ok=True)
        self.cli.export_logs(self.config.name, target.resolve())
        return target

    # -- failure handling -----------------------------------------------------------------

    def _discard(self) -> None:
        """Delete a half-made cluster, and the dockerd or Podman set-up it brought; a failure
        here must not hide the original error."""
        self.kubeconfig_path().unlink(missing_ok=True)
        with contextlib.suppress(ClusterError):
            self.cli.delete_cluster(self.config.name, kubeconfig=self.kubeconfig_path())
        self._remove_runtime_setup()
        shutil.rmtree(self.config.cluster_dir, ignore_errors=True)  # config, dockerd log

    def _remove_runtime_setup(self) -> None:
        """Stop the cluster's own dockerd and remove its own Podman set-up, if it has them:
        their networks, images and node volumes go with them."""
        if self.daemon_paths.run.exists() or self.daemon_paths.data.exists():
            docker_daemon.stop_cluster_daemon(self.daemon_paths)
        if self.podman_paths.run.exists() or self.podman_paths.data.exists():
            podman_setup.remove(self.podman_paths, {**os.environ, **self._env})

    def _collect(self, exc: ClusterError, *, discard: bool) -> Path:
        """Save kind's output and the nodes' logs for CI; with ``discard``, delete the nodes."""
        diagnostics = self.config.diagnostics_dir
        diagnostics.mkdir(parents=True, exist_ok=True)
        output = exc.output_tail if isinstance(exc, KindError) else ""
        (diagnostics / "kind-create.log").write_text(f"{exc}\n\n{output}\n", encoding="utf-8")
        if not isinstance(exc, ContainerRuntimeUnavailableError):
            try:
                if self.exists():
                    self.export_logs(diagnostics / "kind-logs")
            except ClusterError as export_error:
                (diagnostics / "export-logs.error").write_text(f"{export_error}\n", "utf-8")
            if discard:
                self._discard()
        elif discard:  # the runtime failed after the cluster's own one started
            self._remove_runtime_setup()
        return diagnostics


def _write_private(path: Path, content: str) -> None:
    """Write a credential file readable by its owner only, replacing it atomically."""
    staging = path.with_name(path.name + ".tmp")
    fd = os.open(staging, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(content)
    staging.replace(path)


def _with_note(exc: ClusterError, diagnostics: Path) -> ClusterError:
    """The same error type, its one line extended with where the logs went."""
    message = f"{exc} (diagnostics: {diagnostics})"
    if isinstance(exc, KindError):
        return type(exc)(message, output_tail=exc.output_tail)
    try:
        return type(exc)(message)
    except TypeError:
        return ClusterError(message)
