"""The platform manifests as deploy renders them: stages, pinned images, secrets, policies.

These read the real files under k8s/platform and the real pin file; the cluster-side
behaviour (order, waits, idempotency) is proven in tests/integration/platform.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from testing import pins
from testing.platform import PlatformError
from testing.platform.credentials import SPECS
from testing.platform.manifests import (
    NAMESPACE,
    PLATFORM_DIR,
    ROLE_LABEL,
    STAGES,
    containers,
    image_map,
    kustomization_resources,
    render,
    render_all,
    retarget,
)


@pytest.fixture(scope="module")
def objects() -> list[dict[str, Any]]:
    """As deploy renders them for the pinned source (laptops, GitHub Actions)."""
    return render_all(images=image_map(source="pinned"))


def _by(objects: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {o["metadata"]["name"]: o for o in objects if o["kind"] == kind}


def test_stages_apply_exactly_the_kustomization_resources() -> None:
    staged = [name for stage in STAGES for name in stage.files]
    assert sorted(staged) == sorted(kustomization_resources())
    assert len(staged) == len(set(staged))
    assert [stage.name for stage in STAGES] == ["base", "services", "init", "dashboard"]


def test_every_object_lives_in_the_platform_namespace(objects: list[dict[str, Any]]) -> None:
    namespaced = [o for o in objects if o["kind"] != "Namespace"]
    assert {o["metadata"]["namespace"] for o in namespaced} == {NAMESPACE}
    ns = _by(objects, "Namespace")[NAMESPACE]
    assert ns["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"


def test_placeholders_become_the_pinned_digests(objects: list[dict[str, Any]]) -> None:
    pinned = pins.section("images")
    images = {c["name"]: c["image"] for o in objects for c in containers(o)}
    assert images["postgres"] == pinned["postgres"]
    assert images["psql"] == pinned["postgres"]
    assert images["minio"] == pinned["minio"]
    assert images["mc"] == pinned["minio-mc"]
    assert images["dashboard"] == "ktp-demo:dev"
    for name, image in images.items():
        assert "@sha256:" in image or name == "dashboard", name


def test_an_unpinned_image_is_refused() -> None:
    planted = [
        {
            "kind": "Deployment",
            "metadata": {"name": "x"},
            "spec": {"template": {"spec": {"containers": [{"name": "c", "image": "nginx:1.27"}]}}},
        }
    ]
    with pytest.raises(PlatformError, match=r"Deployment x: image 'nginx:1.27' is neither"):
        render(planted, {"postgres": "postgres@sha256:" + "0" * 64})


def test_render_does_not_modify_its_input() -> None:
    original = [
        {
            "kind": "Pod",
            "metadata": {"name": "p"},
            "spec": {"containers": [{"name": "c", "image": "postgres"}]},
        }
    ]
    rendered = render(original, {"postgres": "pg@sha256:" + "1" * 64})
    assert original[0]["spec"]["containers"][0]["image"] == "postgres"
    assert rendered[0]["spec"]["containers"][0]["image"] == "pg@sha256:" + "1" * 64


def test_every_secret_reference_names_a_generated_secret_and_key(
    objects: list[dict[str, Any]],
) -> None:
    generated = {s.secret_name: {k for k, _ in s.fixed} | set(s.generated) for s in SPECS}
    refs = [
        e["valueFrom"]["secretKeyRef"]
        for o in objects
        for c in containers(o)
        for e in c.get("env", [])
        if "secretKeyRef" in e.get("valueFrom", {})
    ]
    assert len(refs) >= 10
    for ref in refs:
        assert ref["key"] in generated[ref["name"]], ref
    assert not _by(objects, "Secret"), "Secrets are generated at deploy time, never committed"


def test_every_container_is_hardened(objects: list[dict[str, Any]]) -> None:
    for obj in objects:
        pod = obj["spec"]["template"]["spec"] if "template" in obj.get("spec", {}) else None
        if pod is None:
            continue
        assert pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["automountServiceAccountToken"] is False
        for c in pod["containers"]:
            sc = c["securityContext"]
            assert sc["allowPrivilegeEscalation"] is False
            assert sc["readOnlyRootFilesystem"] is True
            assert sc["capabilities"]["drop"] == ["ALL"]
            assert set(c["resources"]["limits"]) == {"cpu", "memory"}
            assert set(c["resources"]["requests"]) == {"cpu", "memory"}


def test_long_running_servers_have_both_probes(objects: list[dict[str, Any]]) -> None:
    servers = {**_by(objects, "StatefulSet"), **_by(objects, "Deployment")}
    assert sorted(servers) == ["dashboard", "minio", "postgres"]
    for obj in servers.values():
        (container,) = obj["spec"]["template"]["spec"]["containers"]
        assert "readinessProbe" in container
        assert "livenessProbe" in container
    minio = servers["minio"]["spec"]["template"]["spec"]["containers"][0]
    assert minio["readinessProbe"]["httpGet"]["path"] == "/minio/health/ready"


def test_postgres_init_creates_both_databases_only_when_missing() -> None:
    text = (PLATFORM_DIR / "postgres-init-job.yaml").read_text()
    config = next(d for d in yaml.safe_load_all(text) if d["kind"] == "ConfigMap")
    sql = config["data"]["init.sql"]
    assert "ARRAY['iceberg_catalog', 'demo']" in sql
    assert "WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = name)" in sql
    assert sql.rstrip().endswith("\\gexec")


def test_bucket_init_is_idempotent_and_names_both_buckets(objects: list[dict[str, Any]]) -> None:
    job = _by(objects, "Job")["minio-init"]
    (mc,) = job["spec"]["template"]["spec"]["containers"]
    assert mc["args"][-3:] == ["--ignore-existing", "platform/warehouse", "platform/staging"]


def test_every_pod_carries_a_role_label_the_policies_know(objects: list[dict[str, Any]]) -> None:
    roles = {
        o["spec"]["template"]["metadata"]["labels"][ROLE_LABEL]
        for o in objects
        if "template" in o.get("spec", {})
    }
    assert roles == {"postgres", "minio", "dashboard", "postgres-init", "minio-init"}


def test_render_cli_prints_every_object(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "testing.platform", "render"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    kinds = [d["kind"] for d in yaml.safe_load_all(done.stdout)]
    assert kinds.count("NetworkPolicy") == 9
    assert kinds.count("Job") == 2


def test_a_copy_in_another_namespace_is_complete_and_frees_the_node_port() -> None:
    objects = render_all()
    copy = retarget([dict(o) for o in render_all()], "ktp-copy")
    assert len(copy) == len(objects)
    assert {o["metadata"].get("namespace") for o in copy if o["kind"] != "Namespace"} == {
        "ktp-copy"
    }
    assert [o["metadata"]["name"] for o in copy if o["kind"] == "Namespace"] == ["ktp-copy"]
    (binding,) = [o for o in copy if o["kind"] == "RoleBinding"]
    assert binding["subjects"][0]["namespace"] == "ktp-copy"
    (dashboard,) = [
        o for o in copy if o["kind"] == "Service" and o["metadata"]["name"] == "dashboard"
    ]
    assert "nodePort" not in dashboard["spec"]["ports"][0]
    (original,) = [
        o for o in objects if o["kind"] == "Service" and o["metadata"]["name"] == "dashboard"
    ]
    assert original["spec"]["ports"][0]["nodePort"] == 30080


@pytest.mark.parametrize(
    ("environ", "line"),
    [
        (
            {"TEST_CLUSTER_PROVIDER": "bogus"},
            "error: TEST_CLUSTER_PROVIDER='bogus' is not a provider",
        ),
        (
            {"TEST_CLUSTER_PROVIDER": "kwok", "TEST_CLUSTER_NAME": "absent"},
            "error: kubeconfig ",
        ),
    ],
)
def test_deploy_without_a_cluster_says_so_in_one_line(
    tmp_path: Path, environ: dict[str, str], line: str
) -> None:
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "TEST_STATE_DIR": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-m", "testing.platform", "deploy"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**env, **environ},
        check=False,
    )
    assert done.returncode == 1
    assert done.stderr.startswith(line)
    assert len(done.stderr.strip().splitlines()) == 1
    assert "Traceback" not in done.stderr
