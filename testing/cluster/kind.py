"""The ``kind`` provider: a Kind cluster in Docker or Podman, created once and reused.

``create`` reuses a cluster of the same name (``kind get clusters``) instead of
creating a second one, writes the kubeconfig only to the project-local file
(``kind create --kubeconfig`` / ``kind get kubeconfig``), and ends with the same
API readiness wait as every provider. A failed create exports kind's logs into the
diagnostics folder and deletes the nodes; Ctrl-C deletes them too, so neither
leaves a half-made cluster.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Mapping
from pathlib import Path

from testing import pins
from testing.cluster.base import ClusterConfig, ClusterError, ClusterProvider, ConfigError
from testing.cluster.kind_cli import (
    ClusterNameConflictError,
    ContainerRuntimeUnavailableError,
    KindCLI,
    KindError,
    check_container_runtime,
)

#: How long ``kind create --wait`` waits for the control-plane node to be Ready.
KIND_WAIT_S = 180
KIND_CONFIG = pins.REPO_ROOT / "k8s" / "kind-config.yaml"


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
        self.node_image = node_image or pins.pin("kind", "node_image")
        self._cli = cli

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
        check_container_runtime(self._env)
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
            cli.create_cluster(
                self.config.name,
                config=self.kind_config,
                image=self.node_image,
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
        self.cli.delete_cluster(self.config.name, kubeconfig=self.kubeconfig_path())
        shutil.rmtree(self.config.cluster_dir, ignore_errors=True)

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
        """Delete a half-made cluster; a failure here must not hide the original error."""
        self.kubeconfig_path().unlink(missing_ok=True)
        with contextlib.suppress(ClusterError):
            self.cli.delete_cluster(self.config.name, kubeconfig=self.kubeconfig_path())

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
