"""The namespace fixtures: really created, labelled, deleted; every deletion awaited at the end.

Each case runs a separate pytest process (as a user would) with a known run id,
then checks the cluster from outside that run.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client as k8s
from kubernetes.client import ApiClient
from kubernetes.client.exceptions import ApiException

from testing.k8s.namespaces import RUN_LABEL, WORKER_LABEL, delete_namespaces, namespaces_of_run

USES_NAMESPACE = """
import os
from pathlib import Path

from kubernetes import client

from testing.k8s.apply import apply_objects
from testing.k8s.wait import wait_for_pod

POD = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "labels": {"app": "p"}},
       "spec": {"tolerations": [{"operator": "Exists"}],
                "containers": [{"name": "app", "image": "registry.invalid/app:1"}]}}


def test_uses_namespace(k8s_client, namespace):
    Path(os.environ["NS_RECORD"]).write_text(namespace)
    ns = client.CoreV1Api(k8s_client).read_namespace(namespace)
    assert ns.status.phase == "Active"
    assert ns.metadata.labels["k8s-test-platform/run-id"] == os.environ["TEST_RUN_ID"]
    apply_objects(k8s_client, [POD], namespace=namespace)
    wait_for_pod(k8s_client, "p", namespace, timeout=60)
    EXTRA_LINE
"""

LEAKS = """
import os
from kubernetes import client

from testing.k8s.namespaces import RUN_LABEL, create_namespace


def test_leaks_one(k8s_client):
    name = "ktp-leak-" + os.environ["TEST_RUN_ID"]
    create_namespace(k8s_client, name, labels={RUN_LABEL: os.environ["TEST_RUN_ID"]})
    assert client.CoreV1Api(k8s_client).read_namespace(name).metadata.name == name
"""


def gone(api: ApiClient, name: str) -> bool:
    try:
        k8s.CoreV1Api(api).read_namespace(name)
    except ApiException as exc:
        return exc.status == 404
    return False


@pytest.fixture
def run_env(tmp_path: Path) -> dict[str, str | None]:
    return {"TEST_RUN_ID": "it" + secrets.token_hex(4), "NS_RECORD": str(tmp_path / "ns.txt")}


@pytest.mark.requirement("NS-001")
def test_namespace_with_a_pod_is_deleted_and_gone_when_the_run_ends(
    k8s_client: ApiClient, inner_pytest: Any, run_env: dict[str, str]
) -> None:
    run = inner_pytest(USES_NAMESPACE.replace("EXTRA_LINE", ""), env=run_env)
    assert run.returncode == 0, run.output
    name = Path(run_env["NS_RECORD"]).read_text()
    assert name.startswith("ktp-main-1-")
    assert gone(k8s_client, name)
    assert namespaces_of_run(k8s_client, run_env["TEST_RUN_ID"]) == []


@pytest.mark.requirement("NS-002")
def test_a_leaked_namespace_fails_the_run_and_is_cleaned_up(
    k8s_client: ApiClient, inner_pytest: Any, run_env: dict[str, str]
) -> None:
    leaked = f"ktp-leak-{run_env['TEST_RUN_ID']}"
    try:
        run = inner_pytest(LEAKS, env=run_env)
    finally:
        left = namespaces_of_run(k8s_client, run_env["TEST_RUN_ID"])
        delete_namespaces(k8s_client, left, timeout=120)
    assert left == []
    assert run.returncode == 1, run.output
    assert "1 passed" in run.output
    assert (
        f"NAMESPACE LEAK: run {run_env['TEST_RUN_ID']} left 1 namespace(s) (now deleted): "
        f"{leaked} (made by no test)" in run.output
    )
    assert gone(k8s_client, leaked)


HELD = """
import os
from pathlib import Path

from kubernetes import client


def test_holds_its_namespace(k8s_client, namespace):
    Path(os.environ["NS_RECORD"]).write_text(namespace)
    held = client.CoreV1Api(k8s_client).patch_namespace(
        namespace, {"metadata": {"finalizers": ["ktp.test/never-removed"]}}
    )
    assert held.metadata.finalizers == ["ktp.test/never-removed"]


def test_lets_its_namespace_go(k8s_client, namespace):
    Path(os.environ["NS_RECORD"] + ".free").write_text(namespace)
    assert client.CoreV1Api(k8s_client).read_namespace(namespace).status.phase == "Active"
"""


@pytest.mark.requirement("NS-006")
def test_a_namespace_that_never_goes_away_fails_the_run_naming_it_and_its_test(
    k8s_client: ApiClient, inner_pytest: Any, run_env: dict[str, str]
) -> None:
    """The fixture no longer waits at teardown; the one wait at the end must still catch a
    namespace a finalizer holds, and say which test made it and what holds it."""
    try:
        # Longer than a normal deletion (the namespace controller's 5 s delay included), so
        # only the held namespace can still be there; its twin in the same run is not.
        run = inner_pytest(HELD, "--namespace-timeout", "20", env=run_env)
        name = Path(run_env["NS_RECORD"]).read_text()
        free = Path(run_env["NS_RECORD"] + ".free").read_text()
    finally:
        for left in namespaces_of_run(k8s_client, run_env["TEST_RUN_ID"]):
            k8s.CoreV1Api(k8s_client).patch_namespace(left, {"metadata": {"finalizers": None}})
        delete_namespaces(
            k8s_client, namespaces_of_run(k8s_client, run_env["TEST_RUN_ID"]), timeout=120
        )
    assert run.returncode == 1, run.output
    assert "2 passed" in run.output
    assert free not in run.output
    assert gone(k8s_client, free)
    assert (
        f"NAMESPACE LEAK: run {run_env['TEST_RUN_ID']} left 1 namespace(s) (1 will not go "
        f"away): {name} (made by test_inner.py::test_holds_its_namespace)"
    ) in run.output
    assert (
        f"NAMESPACE LEAK: {name} is still there after 20s: finalizers ktp.test/never-removed"
        in run.output
    )
    assert gone(k8s_client, name)


@pytest.mark.requirement("NS-003")
def test_ctrl_c_in_a_test_still_deletes_its_namespace(
    k8s_client: ApiClient, inner_pytest: Any, run_env: dict[str, str]
) -> None:
    run = inner_pytest(USES_NAMESPACE.replace("EXTRA_LINE", "raise KeyboardInterrupt"), env=run_env)
    assert run.returncode == pytest.ExitCode.INTERRUPTED, run.output
    name = Path(run_env["NS_RECORD"]).read_text()
    assert gone(k8s_client, name)
    assert namespaces_of_run(k8s_client, run_env["TEST_RUN_ID"]) == []


@pytest.mark.requirement("NS-004")
def test_keep_namespaces_leaves_them_for_inspection(
    k8s_client: ApiClient, inner_pytest: Any, run_env: dict[str, str]
) -> None:
    run = inner_pytest(USES_NAMESPACE.replace("EXTRA_LINE", ""), "--keep-namespaces", env=run_env)
    name = Path(run_env["NS_RECORD"]).read_text()
    try:
        assert run.returncode == 0, run.output
        assert f"kept namespaces of run {run_env['TEST_RUN_ID']}: {name}" in run.output
        assert namespaces_of_run(k8s_client, run_env["TEST_RUN_ID"]) == [name]
    finally:
        delete_namespaces(k8s_client, [name], timeout=120)
    assert gone(k8s_client, name)


@pytest.mark.requirement("NS-005")
def test_factory_namespaces_are_distinct_labelled_and_per_worker(
    k8s_client: ApiClient, namespace_factory: Any
) -> None:
    names = [namespace_factory(f"many-{i}") for i in range(3)]
    assert len(set(names)) == 3
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    core = k8s.CoreV1Api(k8s_client)
    for name in names:
        labels = core.read_namespace(name).metadata.labels
        assert labels[WORKER_LABEL] == worker
        assert labels[RUN_LABEL]
        assert name.startswith(f"ktp-{worker}-")
