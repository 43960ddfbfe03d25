"""The ``existing`` provider: run the suites against a cluster someone else manages.

This is how a team points the same tests at a real multi-node or cloud cluster. It
reads ``KUBECONFIG`` (a path or a ``:``-separated list, as kubectl merges it) and
the context named by ``TEST_KUBECONTEXT`` (default: the current context), and
writes ONE context, with file paths made absolute, to the project-local kubeconfig.
Later sessions then use that file, so a ``kubectl config use-context`` elsewhere
cannot redirect a test run. ``create`` only checks the API server is ready;
``delete`` removes the local files and never touches the cluster.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from testing.cluster.base import ClusterConfig, ClusterError, ClusterProvider, ConfigError

KUBECONFIG_ENV = "KUBECONFIG"
CONTEXT_ENV = "TEST_KUBECONTEXT"
DUMP_TIMEOUT_S = 300.0
#: Kubeconfig keys that hold file paths, relative to the file they appear in.
_PATH_KEYS = {
    "cluster": ("certificate-authority",),
    "user": ("client-certificate", "client-key", "tokenFile"),
}


class ExistingProvider(ClusterProvider):
    """A cluster reached through the user's kubeconfig; it is never created or deleted."""

    name = "existing"
    runs_containers = True

    def __init__(self, config: ClusterConfig, *, env: Mapping[str, str] | None = None) -> None:
        super().__init__(config)
        self._env = os.environ if env is None else env

    def kubeconfig_path(self) -> Path:
        return self.config.kubeconfig

    def exists(self) -> bool:
        """True when ``KUBECONFIG`` names a usable context; a broken config is a ConfigError."""
        return bool(self._selected())

    def status(self) -> str:
        source, context, _ = self._selected()
        return f"existing cluster {self.config.name!r}: context {context!r} from {source}"

    def create(self, *, wait_seconds: float = 300) -> Path:
        _, _, document = self._selected()
        target = self.kubeconfig_path()
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = target.with_name(target.name + ".tmp")
        fd = os.open(staging, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            yaml.safe_dump(document, handle, sort_keys=False)
        staging.replace(target)
        self.wait_until_ready(timeout=wait_seconds)
        return target

    def delete(self) -> None:
        """Forget the cluster: only this project's local files go."""
        shutil.rmtree(self.config.cluster_dir, ignore_errors=True)

    def wait_until_ready(self, *, timeout: float = 120) -> None:
        from testing.cluster.readiness import wait_for_api_ready  # noqa: PLC0415 - heavy import

        wait_for_api_ready(self.kubeconfig_path(), timeout=timeout, context=None)

    def load_image(self, image: str) -> None:
        raise ConfigError(
            f"the existing provider cannot copy {image} into the nodes of a cluster it does not "
            "own: push it to a registry the cluster pulls from and reference it by digest"
        )

    def load_image_archive(self, archive: Path) -> None:
        raise ConfigError(
            f"the existing provider cannot load {archive} into the nodes: `docker load` it, "
            "push it to a registry the cluster pulls from and reference it by digest"
        )

    def export_logs(self, destination: Path | None = None) -> Path:
        """``kubectl cluster-info dump`` of kube-system and default into ``destination``."""
        kubectl = shutil.which("kubectl", path=self._env.get("PATH"))
        if kubectl is None:
            raise ConfigError("kubectl is needed to export logs from an existing cluster")
        target = destination or self.config.diagnostics_dir
        target.mkdir(parents=True, exist_ok=True)
        argv = [kubectl, "--kubeconfig", str(self.kubeconfig_path()), "cluster-info", "dump"]
        argv += ["--output-directory", str(target / "cluster-info")]
        try:
            result = subprocess.run(
                argv, capture_output=True, text=True, timeout=DUMP_TIMEOUT_S, check=False
            )
        except subprocess.TimeoutExpired:
            raise ClusterError(
                f"kubectl cluster-info dump took over {DUMP_TIMEOUT_S:.0f}s"
            ) from None
        if result.returncode != 0:
            last = (result.stderr.strip().splitlines() or ["(no output)"])[-1]
            raise ClusterError(f"kubectl cluster-info dump failed: {last}")
        return target

    # -- reading the user's kubeconfig ----------------------------------------------------

    def _selected(self) -> tuple[str, str, dict[str, Any]]:
        """(source description, context name, standalone one-context kubeconfig)."""
        raw = self._env.get(KUBECONFIG_ENV, "")
        files = [Path(p).expanduser() for p in raw.split(os.pathsep) if p.strip()]
        if not files:
            raise ConfigError(
                f"{KUBECONFIG_ENV} is not set: point it at the kubeconfig of the cluster to test "
                f"(optionally choose a context with {CONTEXT_ENV})"
            )
        merged = _merge([_load(path) for path in files])
        wanted = self._env.get(CONTEXT_ENV) or merged["current-context"]
        source = f"{KUBECONFIG_ENV}={raw}"
        if not wanted:
            raise ConfigError(
                f"{source} has no current-context: set {CONTEXT_ENV} to one of "
                + (", ".join(sorted(merged["contexts"])) or "(none: the file has no contexts)")
            )
        context = merged["contexts"].get(wanted)
        if context is None:
            known = ", ".join(sorted(merged["contexts"])) or "none"
            raise ConfigError(f"context {wanted!r} is not in {source} (contexts: {known})")
        cluster_name, user_name = context.get("cluster"), context.get("user")
        cluster = merged["clusters"].get(cluster_name)
        if cluster is None:
            raise ConfigError(f"context {wanted!r} names cluster {cluster_name!r}, not in {source}")
        user = merged["users"].get(user_name, {}) if user_name else {}
        document = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": cluster_name, "cluster": cluster}],
            "users": [{"name": user_name or "", "user": user}],
            "contexts": [{"name": wanted, "context": context}],
            "current-context": wanted,
        }
        return source, wanted, document


def _load(path: Path) -> tuple[Path, dict[str, Any]]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{KUBECONFIG_ENV} names {path}, which does not exist") from None
    except OSError as exc:
        raise ConfigError(f"cannot read kubeconfig {path}: {exc.strerror or exc}") from None
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        where = getattr(exc, "problem_mark", None)
        line = f" (line {where.line + 1})" if where is not None else ""
        raise ConfigError(f"kubeconfig {path} is not valid YAML{line}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"kubeconfig {path} is not a kubeconfig mapping")
    return path, data


def _merge(loaded: list[tuple[Path, dict[str, Any]]]) -> dict[str, Any]:
    """kubectl's rule: for each name, and for current-context, the first file wins."""
    merged: dict[str, Any] = {"clusters": {}, "users": {}, "contexts": {}, "current-context": ""}
    for path, data in loaded:
        if not merged["current-context"]:
            merged["current-context"] = data.get("current-context") or ""
        for plural, singular in (
            ("clusters", "cluster"),
            ("users", "user"),
            ("contexts", "context"),
        ):
            entries = data.get(plural) or []
            if not isinstance(entries, list):
                raise ConfigError(f"kubeconfig {path}: {plural} is not a list")
            for entry in entries:
                if not isinstance(entry, dict) or "name" not in entry:
                    raise ConfigError(f"kubeconfig {path}: an entry of {plural} has no name")
                raw = entry.get(singular) or {}
                if not isinstance(raw, dict):
                    raise ConfigError(
                        f"kubeconfig {path}: {plural} entry {str(entry['name'])!r} has a "
                        f"{singular} that is not a mapping"
                    )
                body = dict(raw)
                for key in _PATH_KEYS.get(singular, ()):
                    if body.get(key):
                        body[key] = str((path.parent / str(body[key])).resolve())
                merged[plural].setdefault(str(entry["name"]), body)
    return merged
