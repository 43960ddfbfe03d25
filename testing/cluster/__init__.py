"""Test-cluster providers behind one interface; ``python -m testing.cluster`` is the CLI."""

from __future__ import annotations

import importlib
import os

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
    "get_provider",
]


def get_provider(name: str | None = None, config: ClusterConfig | None = None) -> ClusterProvider:
    """The provider named by ``name`` or ``$TEST_CLUSTER_PROVIDER`` (default ``kind``)."""
    chosen = name or os.environ.get(PROVIDER_ENV) or DEFAULT_PROVIDER
    target = PROVIDERS.get(chosen)
    if target is None:
        raise ConfigError(
            f"{PROVIDER_ENV}={chosen!r} is not a provider; choose one of {', '.join(PROVIDERS)}"
        )
    module_name, class_name = target.split(":")
    provider_class = getattr(importlib.import_module(module_name), class_name)
    provider: ClusterProvider = provider_class(config or ClusterConfig.from_env())
    return provider
