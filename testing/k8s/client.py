"""An API client for the selected test cluster, from its project-local kubeconfig.

Tests never read ``~/.kube/config``: the provider (kind, kwok, existing) writes its
own kubeconfig and this module loads exactly that file, so a developer's current
context can never be the target of a test run.
"""

from __future__ import annotations

from pathlib import Path

from kubernetes import client as k8s_client
from kubernetes import config as k8s_config

from testing.cluster import ClusterError, get_provider


def default_kubeconfig() -> Path:
    """The kubeconfig of the provider selected by ``TEST_CLUSTER_PROVIDER``."""
    return get_provider().kubeconfig_path()


def api_client(kubeconfig: Path | None = None, context: str | None = None) -> k8s_client.ApiClient:
    """A fresh ``ApiClient`` for ``kubeconfig`` (default: the selected provider's).

    Each call returns an independent client with its own configuration, so tests
    talking to two clusters, or threads that patch a client (the stream helpers do),
    never share state by accident.
    """
    path = kubeconfig or default_kubeconfig()
    if not path.is_file():
        raise ClusterError(
            f"kubeconfig {path} does not exist: create the cluster first "
            "(`nox -s cluster` or `python -m testing.cluster up`)"
        )
    configuration = k8s_client.Configuration()
    k8s_config.load_kube_config(  # type: ignore[no-untyped-call]
        config_file=str(path), context=context, client_configuration=configuration
    )
    return k8s_client.ApiClient(configuration=configuration)


def clone(api: k8s_client.ApiClient) -> k8s_client.ApiClient:
    """A second client on the same configuration (for a thread of its own)."""
    return k8s_client.ApiClient(configuration=api.configuration)
