"""The contract every test-cluster provider keeps, after sigs.k8s.io/e2e-framework's.

A provider owns one named cluster: it creates or reuses it, tells whether it exists,
writes a project-local kubeconfig (never ``~/.kube/config``), waits until the API
server really serves (``/readyz`` and the ``default`` service account), loads images,
exports logs and deletes everything it made. Sessions and fixtures only talk to
this interface, so the same suite runs on kind, kwok or an existing cluster.
"""

from __future__ import annotations

import abc
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from testing.pins import REPO_ROOT

PROVIDER_ENV = "TEST_CLUSTER_PROVIDER"
NAME_ENV = "TEST_CLUSTER_NAME"
STATE_DIR_ENV = "TEST_STATE_DIR"
DEFAULT_PROVIDER = "kind"
DEFAULT_NAME = "ktp"
_NAME_RE = re.compile(r"^[a-z0-9]([-a-z0-9]{0,30}[a-z0-9])?$")


class ClusterError(RuntimeError):
    """An expected failure: the message is one actionable line, shown without a traceback."""


class ConfigError(ClusterError):
    """The user's input (environment, arguments) is not valid."""


@dataclass(frozen=True)
class ClusterConfig:
    """What identifies a test cluster and where its local files live."""

    name: str = DEFAULT_NAME
    state_dir: Path = field(default_factory=lambda: REPO_ROOT / ".cache" / "clusters")

    def __post_init__(self) -> None:
        if not _NAME_RE.match(self.name):
            raise ConfigError(
                f"cluster name {self.name!r} is not valid: use 1-32 lowercase letters, digits "
                f"and '-', starting and ending with a letter or digit (set {NAME_ENV})"
            )

    @property
    def cluster_dir(self) -> Path:
        """Per-cluster work directory: kubeconfig, logs, provider state."""
        return self.state_dir / self.name

    @property
    def kubeconfig(self) -> Path:
        return self.cluster_dir / "kubeconfig"

    @property
    def lock_path(self) -> Path:
        """Serialises create-or-reuse across processes (pytest-xdist workers, parallel runs).

        It sits beside the cluster directory, not in it, because a provider may wipe that
        directory while the lock is held; ``down`` removes it with the cluster.
        """
        return self.state_dir / f"{self.name}.lock"

    @property
    def diagnostics_dir(self) -> Path:
        """Where exported logs go; CI uploads ``artifacts/``."""
        return REPO_ROOT / "artifacts" / "diagnostics" / self.name

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> ClusterConfig:
        env = os.environ if environ is None else environ
        state = env.get(STATE_DIR_ENV)
        name = env.get(NAME_ENV) or DEFAULT_NAME
        return cls(name=name, state_dir=Path(state)) if state else cls(name=name)


class ClusterProvider(abc.ABC):
    """One test cluster, created, reused and removed through a single object."""

    #: The value of ``TEST_CLUSTER_PROVIDER`` that selects this provider.
    name: str = ""
    #: Whether pods really run containers (kind, existing) or are simulated (kwok).
    runs_containers: bool = True

    def __init__(self, config: ClusterConfig) -> None:
        self.config = config

    @abc.abstractmethod
    def exists(self) -> bool:
        """Whether the cluster is there now (running or not)."""

    @abc.abstractmethod
    def create(self, *, wait_seconds: float = 300) -> Path:
        """Create the cluster, or reuse it if it exists; wait until ready; return the kubeconfig.

        An interrupted or failed create leaves no half-made cluster behind.
        """

    @abc.abstractmethod
    def delete(self) -> None:
        """Delete the cluster and every file it left; a missing cluster is not an error."""

    @abc.abstractmethod
    def kubeconfig_path(self) -> Path:
        """The project-local kubeconfig for this cluster (never ``~/.kube/config``)."""

    @abc.abstractmethod
    def wait_until_ready(self, *, timeout: float = 120) -> None:
        """Return once ``/readyz`` answers ok and the ``default`` service account exists."""

    @abc.abstractmethod
    def load_image(self, image: str) -> None:
        """Make a locally built image available to the cluster's nodes."""

    @abc.abstractmethod
    def load_image_archive(self, archive: Path) -> None:
        """Make the images in a ``docker save`` archive available to the nodes."""

    @abc.abstractmethod
    def export_logs(self, destination: Path | None = None) -> Path:
        """Write the cluster's logs into ``destination`` (default: the diagnostics dir)."""

    def dashboard_url(self, node_port: int) -> str:
        """Where the host reaches a NodePort: kind maps 30080 to 127.0.0.1:8080 (kind-config)."""
        return "http://127.0.0.1:8080" if node_port == 30080 else f"http://127.0.0.1:{node_port}"

    def status(self) -> str:
        """One line for humans: provider, name, and whether the cluster exists."""
        state = "exists" if self.exists() else "absent"
        return f"{self.name} cluster {self.config.name!r}: {state}"
