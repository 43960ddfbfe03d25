"""Test-cluster providers behind one interface; ``python -m testing.cluster`` is the CLI."""

from __future__ import annotations

import functools
import importlib
import os
import sys
from collections.abc import Mapping

from testing.cluster.base import (
    DEFAULT_PROVIDER,
    PROVIDER_ENV,
    ClusterConfig,
    ClusterError,
    ClusterProvider,
    ConfigError,
)

#: Provider name -> "module:Class", imported only when selected so that, say, the
#: kwok build machinery is not loaded for a kind run.
PROVIDERS: dict[str, str] = {
    "kind": "testing.cluster.kind:KindProvider",
    "local": "testing.cluster.local:LocalProvider",
    "kwok": "testing.cluster.kwok:KwokProvider",
    "existing": "testing.cluster.existing:ExistingProvider",
}

__all__ = [
    "PROVIDERS",
    "ClusterConfig",
    "ClusterError",
    "ClusterProvider",
    "ConfigError",
    "choose_provider",
    "get_provider",
]


@functools.cache
def _automatic() -> tuple[str, str]:
    from testing.cluster.kind_cli import (  # noqa: PLC0415 - only when nothing was named
        ContainerRuntimeUnavailableError,
        check_container_runtime,
    )

    try:
        version = check_container_runtime(timeout=10)
    except ContainerRuntimeUnavailableError as exc:
        docker = str(exc).split(":")[0]
    else:
        return DEFAULT_PROVIDER, f"a container runtime answers (server {version})"
    if sys.platform == "linux" and os.geteuid() == 0:
        return "local", f"{docker}; root on Linux: a real kubelet and containerd on this host"
    raise ConfigError(
        f"no cluster provider can run here ({docker}; not root on Linux): start Docker or "
        f"Podman (kind), run as root (local), or set {PROVIDER_ENV}=existing with KUBECONFIG"
    )


def choose_provider(environ: Mapping[str, str] | None = None) -> tuple[str, str]:
    """``(provider, why)``: ``$TEST_CLUSTER_PROVIDER``, else kind where Docker (or Podman)
    answers, else local where root on Linux, else one line saying what is missing."""
    env = os.environ if environ is None else environ
    explicit = env.get(PROVIDER_ENV)
    if explicit:
        return explicit, f"{PROVIDER_ENV}={explicit}"
    chosen, why = _automatic()
    if chosen not in _announced:
        _announced.add(chosen)
        print(f"cluster provider: {chosen} ({why}; set {PROVIDER_ENV} to choose)", file=sys.stderr)
    return chosen, why


_announced: set[str] = set()


def get_provider(name: str | None = None, config: ClusterConfig | None = None) -> ClusterProvider:
    """The provider named by ``name`` or chosen by :func:`choose_provider`."""
    chosen = name or choose_provider()[0]
    target = PROVIDERS.get(chosen)
    if target is None:
        raise ConfigError(
            f"{PROVIDER_ENV}={chosen!r} is not a provider; choose one of {', '.join(PROVIDERS)}"
        )
    module_name, class_name = target.split(":")
    provider_class = getattr(importlib.import_module(module_name), class_name)
    provider: ClusterProvider = provider_class(config or ClusterConfig.from_env())
    return provider
