"""Deploy on a real API server (the kwok control plane here; any cluster elsewhere).

Each test deploys a private copy of the platform into a namespace of its own (the
same manifests, re-targeted), so tests run in parallel and a planted failure touches
nothing else. On kwok no process runs behind a pod: health is API-level readiness, and
the protocol checks (a PostgreSQL query, MinIO's readiness endpoint, the dashboard's
HTTP) run only where containers run, in the e2e tier.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client as kube
from kubernetes.client.exceptions import ApiException

from testing.cluster import ClusterProvider
from testing.k8s.apply import FIELD_MANAGER, dynamic_client
from testing.platform import NAMESPACE_ENV, PlatformError
from testing.platform.deploy import Deployer, DeployResult
from testing.platform.manifests import PLATFORM_DIR, ROLE_LABEL
from testing.platform.volumes import delete_simulated_volumes

STAGE_TIMEOUT_S = 120.0
#: kwok's chaos stage (loaded by the kwok provider): a Pending pod with this label gets
#: its init containers terminated with exit code 1.
INIT_FAIL_LABEL = "pod-init-container-running-failed.stage.kwok.x-k8s.io"


@pytest.fixture
def platform_namespace(
    namespace_factory: Callable[[str], str], api_client: kube.ApiClient
) -> Iterator[str]:
    name = namespace_factory("platform")
    yield name
    delete_simulated_volumes(api_client, name)


def _deployer(
    api: kube.ApiClient, cluster: ClusterProvider, namespace: str, tmp_path: Path, **kw: Any
) -> Deployer:
    return Deployer(
        api,
        runs_containers=cluster.runs_containers,
        stage_timeout=STAGE_TIMEOUT_S,
        namespace=namespace,
        diagnostics_dir=tmp_path / "diagnostics",
        **kw,
    )


def _writes(api: kube.ApiClient, result: DeployResult) -> dict[str, object]:
    """What a deploy writes, read back: per applied object its generation and the time
    of this project's field-manager entry (a no-op server-side apply changes neither;
    controllers' status updates, which move resourceVersion, touch neither), the
    Secrets' resourceVersions and every pod's uid."""
    dyn = dynamic_client(api)
    found: dict[str, object] = {}
    for obj in result.applied:
        resource = dyn.resources.get(api_version=obj.api_version, kind=obj.kind)
        live = resource.get(name=obj.name, namespace=obj.namespace).to_dict()["metadata"]
        applies = [
            (entry.get("operation"), entry.get("time"))
            for entry in live.get("managedFields") or []
            if entry.get("manager") == FIELD_MANAGER
        ]
        found[f"{obj.kind}/{obj.name}"] = (live.get("generation"), applies)
    core = kube.CoreV1Api(api)
    namespace = next(o.namespace for o in result.applied if o.namespace)
    for secret in core.list_namespaced_secret(namespace).items:
        found[f"Secret/{secret.metadata.name}"] = secret.metadata.resource_version
    for pod in core.list_namespaced_pod(namespace).items:
        found[f"Pod/{pod.metadata.name}"] = pod.metadata.uid
    return found


@pytest.mark.requirement("DEP-001")
def test_deploy_applies_stage_by_stage_and_waits_for_each(
    api_client: kube.ApiClient,
    cluster: ClusterProvider,
    platform_namespace: str,
    tmp_path: Path,
) -> None:
    apps = kube.AppsV1Api(api_client)
    batch = kube.BatchV1Api(api_client)
    seen: dict[str, dict[str, Any]] = {}

    def observe(stage: str) -> None:
        # What the cluster holds when a stage starts: the previous stages are healthy.
        sts = apps.list_namespaced_stateful_set(platform_namespace).items
        jobs = batch.list_namespaced_job(platform_namespace).items
        seen[stage] = {
            "ready": sorted(s.metadata.name for s in sts if (s.status.ready_replicas or 0) == 1),
            "jobs_done": sorted(j.metadata.name for j in jobs if (j.status.succeeded or 0) == 1),
            "jobs": sorted(j.metadata.name for j in jobs),
        }

    result = _deployer(
        api_client, cluster, platform_namespace, tmp_path, before_stage=observe
    ).run()

    assert list(seen) == ["base", "services", "init", "dashboard"]
    assert seen["services"] == {"ready": [], "jobs_done": [], "jobs": []}
    assert seen["init"] == {"ready": ["minio", "postgres"], "jobs_done": [], "jobs": []}
    assert seen["dashboard"]["jobs_done"] == ["minio-init", "postgres-init"]
    assert [row.service for row in result.rows] == [
        "postgres",
        "minio",
        "databases",
        "buckets",
        "dashboard",
    ]
    assert all(0 <= row.seconds <= result.seconds for row in result.rows)
    if not cluster.runs_containers:
        # kwok ran no container: the table claims no database or bucket, and no health.
        endpoints = {row.service: row.endpoint for row in result.rows}
        assert endpoints["databases"] == (
            "none made: Job postgres-init completed without a container"
        )
        assert endpoints["buckets"] == "none made: Job minio-init completed without a container"
        assert not any(row.checked for row in result.rows)
    # The apply order inside a stage follows the dependency order of testing.k8s.
    kinds = [obj.kind for obj in result.applied]
    assert kinds.index("Namespace") < kinds.index("ServiceAccount") < kinds.index("NetworkPolicy")
    assert kinds.index("ConfigMap") < kinds.index("Job")
    deployment = apps.read_namespaced_deployment("dashboard", platform_namespace)
    assert deployment.status.available_replicas == 1


@pytest.mark.requirement("DEP-002")
def test_credentials_are_generated_secrets_referenced_by_every_workload(
    api_client: kube.ApiClient,
    cluster: ClusterProvider,
    platform_namespace: str,
    tmp_path: Path,
) -> None:
    _deployer(api_client, cluster, platform_namespace, tmp_path).run()
    core = kube.CoreV1Api(api_client)
    secrets = {s.metadata.name: s for s in core.list_namespaced_secret(platform_namespace).items}
    assert sorted(secrets["postgres-credentials"].data) == ["password", "username"]
    assert sorted(secrets["minio-credentials"].data) == ["root-password", "root-user"]
    sts = kube.AppsV1Api(api_client).read_namespaced_stateful_set("postgres", platform_namespace)
    env = {e.name: e for e in sts.spec.template.spec.containers[0].env}
    assert env["POSTGRES_PASSWORD"].value is None
    assert env["POSTGRES_PASSWORD"].value_from.secret_key_ref.name == "postgres-credentials"


@pytest.mark.requirement("DEP-003")
def test_second_deploy_changes_nothing_and_keeps_the_passwords(
    api_client: kube.ApiClient,
    cluster: ClusterProvider,
    platform_namespace: str,
    tmp_path: Path,
) -> None:
    first = _deployer(api_client, cluster, platform_namespace, tmp_path).run()
    before = _writes(api_client, first)
    second = _deployer(api_client, cluster, platform_namespace, tmp_path).run()
    after = _writes(api_client, second)
    assert after == before  # no object written, no Secret rotated, no pod replaced
    assert len(before) >= 30
    assert [r.service for r in second.rows] == [r.service for r in first.rows]


@pytest.mark.requirement("DEP-004")
def test_a_failing_pod_ends_the_deploy_with_its_reason_and_diagnostics(
    api_client: kube.ApiClient,
    cluster: ClusterProvider,
    platform_namespace: str,
    tmp_path: Path,
) -> None:
    """A planted copy of the manifests gives MinIO's pod an init container and the label
    of kwok's chaos stage that fails it (exit 1) while the pod is still Pending, so the
    failure comes before any readiness, as an unpullable image or a broken entrypoint
    would."""
    planted = tmp_path / "platform"
    shutil.copytree(PLATFORM_DIR, planted)
    docs = list(yaml.safe_load_all((planted / "minio.yaml").read_text()))
    for doc in docs:
        if doc["kind"] == "StatefulSet":
            template = doc["spec"]["template"]
            template["metadata"]["labels"][INIT_FAIL_LABEL] = "true"
            main = template["spec"]["containers"][0]
            template["spec"]["initContainers"] = [
                {
                    "name": "prepare",
                    "image": main["image"],
                    "command": ["minio", "--version"],
                    "resources": main["resources"],
                    "securityContext": main["securityContext"],
                }
            ]
    (planted / "minio.yaml").write_text(yaml.safe_dump_all(docs))
    stages: list[str] = []

    with pytest.raises(PlatformError) as failed:
        _deployer(
            api_client,
            cluster,
            platform_namespace,
            tmp_path,
            directory=planted,
            before_stage=stages.append,
        ).run()

    message = str(failed.value)
    assert message.startswith("minio did not become healthy: ")
    assert f"pod {platform_namespace}/minio-0 container prepare" in message
    assert "terminated with exit code 1" in message
    assert "timed out" not in message  # it stopped on the failure, not at the deadline
    assert stages == ["base", "services"]  # nothing after the failed stage was applied
    report = Path(message.rsplit("(diagnostics: ", 1)[1].rstrip(")"))
    text = report.read_text()
    assert f"=== diagnostics for namespace {platform_namespace}" in text
    assert "minio-0" in text


@pytest.mark.requirement("DEP-005")
def test_network_policy_specs_stored_by_the_api_server_are_the_intended_ones(
    api_client: kube.ApiClient,
    cluster: ClusterProvider,
    platform_namespace: str,
    tmp_path: Path,
) -> None:
    """Reads back what the API server accepted and stored; no traffic is sent here.

    kwok has no data plane, so nothing enforces these policies in this tier. That
    traffic is refused and allowed as intended is proven on real pods, in
    ``tests/e2e/test_network_policy.py`` (NET-001, NET-002).
    """
    _deployer(api_client, cluster, platform_namespace, tmp_path).run()
    net = kube.NetworkingV1Api(api_client)
    stored = {
        p.metadata.name: dict(api_client.sanitize_for_serialization(p.spec))
        for p in net.list_namespaced_network_policy(platform_namespace).items
    }
    assert sorted(stored) == sorted(
        [
            "allow-dns",
            "dashboard-ingress",
            "data-clients-egress",
            "default-deny",
            "minio-init-egress",
            "minio-ingress",
            "postgres-init-egress",
            "postgres-ingress",
            "test-runner-egress",
        ]
    )
    assert stored["default-deny"] == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}
    postgres = stored["postgres-ingress"]
    assert postgres["podSelector"] == {"matchLabels": {ROLE_LABEL: "postgres"}}
    (rule,) = postgres["ingress"]
    assert rule["ports"] == [{"port": 5432, "protocol": "TCP"}]
    (peer,) = rule["from"]
    assert peer["podSelector"]["matchExpressions"] == [
        {
            "key": ROLE_LABEL,
            "operator": "In",
            "values": ["demo-job", "dashboard", "test-runner", "postgres-init"],
        }
    ]
    dns = stored["allow-dns"]["egress"][0]
    assert dns["to"][0]["namespaceSelector"] == {
        "matchLabels": {"kubernetes.io/metadata.name": "kube-system"}
    }
    # Every pod of the platform is selected by the default deny and carries a role.
    pods = kube.CoreV1Api(api_client).list_namespaced_pod(platform_namespace).items
    assert {p.metadata.labels[ROLE_LABEL] for p in pods} >= {"postgres", "minio", "dashboard"}


def _can(
    api: kube.ApiClient,
    user: str,
    namespace: str,
    verb: str,
    resource: str,
    *,
    subresource: str = "",
    group: str = "",
) -> bool:
    review = kube.V1SubjectAccessReview(
        spec=kube.V1SubjectAccessReviewSpec(
            user=user,
            groups=["system:serviceaccounts", f"system:serviceaccounts:{namespace}"],
            resource_attributes=kube.V1ResourceAttributes(
                namespace=namespace,
                verb=verb,
                resource=resource,
                subresource=subresource or None,
                group=group,
            ),
        )
    )
    answer = kube.AuthorizationV1Api(api).create_subject_access_review(review)
    return bool(answer.status.allowed)


@pytest.mark.requirement("DEP-006")
def test_the_test_runner_may_read_what_it_tests_and_nothing_more(
    api_client: kube.ApiClient,
    cluster: ClusterProvider,
    platform_namespace: str,
    tmp_path: Path,
) -> None:
    """Asked of the API server's own authorizer (SubjectAccessReview), not of the YAML."""
    _deployer(api_client, cluster, platform_namespace, tmp_path).run()
    runner = f"system:serviceaccount:{platform_namespace}:test-runner"
    ns = platform_namespace
    assert _can(api_client, runner, ns, "list", "pods")
    assert _can(api_client, runner, ns, "get", "pods", subresource="log")
    assert _can(api_client, runner, ns, "watch", "statefulsets", group="apps")
    assert _can(api_client, runner, ns, "get", "jobs", group="batch")
    assert not _can(api_client, runner, ns, "get", "secrets")
    assert not _can(api_client, runner, ns, "create", "pods")
    assert not _can(api_client, runner, ns, "delete", "statefulsets", group="apps")
    assert not _can(api_client, runner, ns, "create", "pods", subresource="exec")
    assert not _can(api_client, runner, "kube-system", "list", "pods")
    dashboard = f"system:serviceaccount:{platform_namespace}:dashboard"
    assert not _can(api_client, dashboard, ns, "list", "pods")


@pytest.mark.requirement("DEP-007")
def test_the_namespace_rejects_a_pod_that_would_run_as_root(
    api_client: kube.ApiClient,
    cluster: ClusterProvider,
    platform_namespace: str,
    tmp_path: Path,
) -> None:
    _deployer(api_client, cluster, platform_namespace, tmp_path).run()
    planted = kube.V1Pod(
        metadata=kube.V1ObjectMeta(name="root-pod"),
        spec=kube.V1PodSpec(containers=[kube.V1Container(name="c", image="busybox:1.36")]),
    )
    with pytest.raises(ApiException) as rejected:
        kube.CoreV1Api(api_client).create_namespaced_pod(platform_namespace, planted)
    assert rejected.value.status == 403
    message = json.loads(rejected.value.body)["message"]
    assert 'violates PodSecurity "restricted:latest"' in message
    assert "runAsNonRoot != true" in message


def _secret_data(api: kube.ApiClient, namespace: str) -> dict[str, dict[str, str]]:
    return {
        str(s.metadata.name): dict(s.data or {})
        for s in kube.CoreV1Api(api).list_namespaced_secret(namespace).items
    }


@pytest.mark.requirement("DEP-011")
def test_ctrl_c_during_deploy_then_deploy_again_converges_with_the_same_secrets(
    api_client: kube.ApiClient, platform_namespace: str
) -> None:
    """``python -m testing.platform deploy`` (the command ``nox -s deploy`` runs) gets
    SIGINT on its process group, as a terminal's Ctrl-C delivers it, the moment it starts
    the init stage (credentials and services applied); then it is run
    again. The second run must finish, keep the first run's Secrets, and leave each
    object once: every init Job ran one pod."""
    env = {**os.environ, NAMESPACE_ENV: platform_namespace}
    argv = [sys.executable, "-m", "testing.platform", "deploy"]
    first = subprocess.Popen(
        argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        start_new_session=True,
    )  # fmt: skip
    try:
        assert first.stdout is not None
        seen = []
        for line in first.stdout:
            seen.append(line)
            if line.strip() == "stage init ...":
                os.killpg(first.pid, signal.SIGINT)
                break
        out, err = first.communicate(timeout=120)
    finally:
        if first.poll() is None:
            os.killpg(first.pid, signal.SIGKILL)
            first.wait(timeout=30)
    assert "stage init ..." in "".join(seen), "".join(seen) + err
    assert first.returncode == 130, err
    assert err.strip().splitlines()[-1] == (
        "interrupted: deploy is idempotent, run it again to finish"
    )
    assert "Traceback" not in err
    assert "stage dashboard" not in out
    secrets = _secret_data(api_client, platform_namespace)
    assert {"postgres-credentials", "minio-credentials"} <= set(secrets)
    batch = kube.BatchV1Api(api_client)

    again = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=600, check=False)
    assert again.returncode == 0, again.stderr
    assert _secret_data(api_client, platform_namespace) == secrets
    jobs = batch.list_namespaced_job(platform_namespace).items
    assert sorted(j.metadata.name for j in jobs) == ["minio-init", "postgres-init"]
    core = kube.CoreV1Api(api_client)
    for job in jobs:
        pods = core.list_namespaced_pod(
            platform_namespace, label_selector=f"job-name={job.metadata.name}"
        ).items
        assert len(pods) == 1, f"{job.metadata.name} ran {len(pods)} pods"
        assert job.status.succeeded == 1
