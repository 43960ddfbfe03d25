"""One real kwok cluster for the provider contract tests, brought up once per session.

It is this directory's own cluster (not the session's ``cluster`` fixture), so the
kwok provider is proven whatever ``TEST_CLUSTER_PROVIDER`` says, and the ``existing``
provider is pointed at its kubeconfig to pass the same contract. The first run on a
machine builds the binaries from source (testing.cluster.k8s_binaries); later runs
reuse the per-user cache.
"""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from filelock import FileLock
from kubernetes import client

from testing.cluster.base import ClusterConfig, ClusterProvider
from testing.cluster.existing import ExistingProvider
from testing.cluster.k8s_binaries import K8sBinaries, ensure_binaries
from testing.cluster.kwok import KwokProvider
from testing.cluster.readiness import load_api_client

#: Providers that must pass tests/integration/cluster/test_provider_contract.py here.
CONTRACT_PROVIDERS = ("kwok", "existing")


#: Serialises, across xdist workers, the tests that change the host's network, mounts and
#: cgroups and compare them before and after (local provider, kind on Docker and Podman).
HOST_SLOT_LOCK = str(Path(tempfile.gettempdir()) / "ktp-host-state-tests.lock")


@pytest.fixture
def host_slot() -> Iterator[None]:
    with FileLock(HOST_SLOT_LOCK, timeout=1200):
        yield


@pytest.fixture(scope="session")
def kwok_binaries() -> K8sBinaries:
    return ensure_binaries()


@pytest.fixture(scope="session")
def kwok_provider(
    kwok_binaries: K8sBinaries, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[KwokProvider]:
    state = tmp_path_factory.mktemp("kwok-state")
    provider = KwokProvider(ClusterConfig(name="contract", state_dir=state), binaries=kwok_binaries)
    provider.create(wait_seconds=180)
    try:
        yield provider
    finally:
        provider.delete()


def existing_env(kwok: KwokProvider, binaries: K8sBinaries) -> dict[str, str]:
    """What a user of the existing provider sets, aimed at the kwok cluster."""
    return {
        "KUBECONFIG": str(kwok.kubeconfig_path()),
        "TEST_KUBECONTEXT": kwok.context,
        # kubectl for export_logs: the one built with the control plane.
        "PATH": f"{binaries.directory}{os.pathsep}{os.environ.get('PATH', '')}",
    }


@pytest.fixture(scope="session", params=CONTRACT_PROVIDERS)
def contract_provider(
    request: pytest.FixtureRequest,
    kwok_provider: KwokProvider,
    kwok_binaries: K8sBinaries,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[ClusterProvider]:
    if request.param == "kwok":
        yield kwok_provider
        return
    state = tmp_path_factory.mktemp("existing-state")
    existing = ExistingProvider(
        ClusterConfig(name="existing", state_dir=state),
        env=existing_env(kwok_provider, kwok_binaries),
    )
    existing.create(wait_seconds=60)
    try:
        yield existing
    finally:
        existing.delete()


@pytest.fixture
def contract_api(contract_provider: ClusterProvider) -> Iterator[Any]:
    """An ApiClient on the provider's own project-local kubeconfig."""
    api_client = load_api_client(contract_provider.kubeconfig_path())
    try:
        yield api_client
    finally:
        api_client.close()


@pytest.fixture
def kwok_api(kwok_provider: KwokProvider) -> Iterator[Any]:
    api_client = load_api_client(kwok_provider.kubeconfig_path(), kwok_provider.context)
    try:
        yield api_client
    finally:
        api_client.close()


def make_namespace(api_client: Any, prefix: str) -> str:
    """A fresh namespace on this directory's throwaway cluster (deleted with the cluster)."""
    name = f"{prefix}-{uuid.uuid4().hex[:8]}"
    client.CoreV1Api(api_client).create_namespace(
        client.V1Namespace(metadata=client.V1ObjectMeta(name=name))
    )
    return name


@pytest.fixture
def contract_namespace(contract_api: Any) -> str:
    return make_namespace(contract_api, "contract")


@pytest.fixture
def kwok_namespace(kwok_api: Any) -> str:
    return make_namespace(kwok_api, "kwok")


@pytest.fixture
def cli_env(kwok_binaries: K8sBinaries, tmp_path: Path) -> Callable[[str], dict[str, str]]:
    """Environment for ``python -m testing.cluster`` on a separate kwok cluster in tmp_path."""

    def env(name: str) -> dict[str, str]:
        home = tmp_path / "home"
        home.mkdir(exist_ok=True)
        return {
            **os.environ,
            "TEST_CLUSTER_PROVIDER": "kwok",
            "TEST_CLUSTER_NAME": name,
            "TEST_STATE_DIR": str(tmp_path / "state"),
            "TEST_K8S_BINARIES": str(kwok_binaries.directory),
            # Anything written under HOME (~/.kube, ~/.kwok) would land here and be seen.
            "HOME": str(home),
        }

    return env
