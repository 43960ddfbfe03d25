"""The manifest scanner: real schema validation (kubernetes-validate) and each policy rule.

Every rule is proven by a planted violation of one compliant pod, and the pod
itself (the corrected twin) passes.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from testing.security import manifests, policy
from testing.security.report import ScanError, ScanResult

VERSION = "v1.36.1"
DIGEST = "registry.example/app:1.0@sha256:" + "a" * 64
URL_WITH_PASSWORD = "redis://app:s3cr3t-pw@cache:6379/0"  # pragma: allowlist secret
PROBE = {"httpGet": {"path": "/healthz", "port": 8080}}


def compliant_pod() -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "app"},
        "spec": {
            "securityContext": {"runAsNonRoot": True},
            "containers": [
                {
                    "name": "app",
                    "image": DIGEST,
                    "resources": {"limits": {"cpu": "500m", "memory": "256Mi"}},
                    "livenessProbe": PROBE,
                    "readinessProbe": PROBE,
                    "securityContext": {"allowPrivilegeEscalation": False},
                    "env": [
                        {
                            "name": "DB_PASSWORD",
                            "valueFrom": {"secretKeyRef": {"name": "db", "key": "password"}},
                        },
                        {"name": "DB_URL", "value": "postgresql://app:$(DB_PASSWORD)@db:5432/app"},
                    ],
                }
            ],
        },
    }


def scan_objects(tmp_path: Path, *objects: dict[str, Any]) -> ScanResult:
    folder = tmp_path / "k8s"
    folder.mkdir(exist_ok=True)
    (folder / "objects.yaml").write_text(yaml.safe_dump_all(objects))
    return manifests.scan(tmp_path, tmp_path / "reports", folder=folder, kubernetes_version=VERSION)


def container(pod: dict[str, Any]) -> dict[str, Any]:
    found: dict[str, Any] = pod["spec"]["containers"][0]
    return found


def test_compliant_pod_passes(tmp_path: Path) -> None:
    result = scan_objects(tmp_path, compliant_pod())
    assert result.findings == []
    assert result.checked == 1


Mutation = Callable[[dict[str, Any]], None]

PLANTED: dict[str, tuple[Mutation, set[str]]] = {
    "privileged-container": (
        lambda p: container(p)["securityContext"].update(privileged=True),
        {"privileged"},
    ),
    "host-network": (lambda p: p["spec"].update(hostNetwork=True), {"privileged"}),
    "sys-admin": (
        lambda p: container(p)["securityContext"].update(capabilities={"add": ["SYS_ADMIN"]}),
        {"privileged"},
    ),
    "no-limits": (lambda p: container(p).pop("resources"), {"resources"}),
    "no-memory-limit": (
        lambda p: container(p)["resources"]["limits"].pop("memory"),
        {"resources"},
    ),
    "no-liveness-probe": (lambda p: container(p).pop("livenessProbe"), {"probes"}),
    "no-readiness-probe": (lambda p: container(p).pop("readinessProbe"), {"probes"}),
    "root-user": (
        lambda p: container(p)["securityContext"].update(runAsUser=0),
        {"run-as-root"},
    ),
    "no-non-root": (lambda p: p["spec"].pop("securityContext"), {"run-as-root"}),
    "escalation-unset": (
        lambda p: container(p)["securityContext"].pop("allowPrivilegeEscalation"),
        {"privilege-escalation"},
    ),
    "escalation-true": (
        lambda p: container(p)["securityContext"].update(allowPrivilegeEscalation=True),
        {"privilege-escalation"},
    ),
    "host-path": (
        lambda p: p["spec"].update(volumes=[{"name": "h", "hostPath": {"path": "/var"}}]),
        {"host-path"},
    ),
    "latest": (
        lambda p: container(p).update(image="registry.example/app:latest"),
        {"image-latest", "image-digest"},
    ),
    "untagged": (lambda p: container(p).update(image="app"), {"image-latest", "image-digest"}),
    "tag-without-digest": (lambda p: container(p).update(image="app:1.0"), {"image-digest"}),
    "password-literal": (
        lambda p: container(p)["env"].append({"name": "ADMIN_PASSWORD", "value": "hunter2-xyz"}),
        {"credential-literal"},
    ),
    "url-with-password": (
        lambda p: container(p)["env"].append({"name": "CACHE_URL", "value": URL_WITH_PASSWORD}),
        {"credential-literal"},
    ),
    "unknown-field": (lambda p: container(p).update(imagePullPolicyy="Never"), {"schema"}),
    "wrong-type": (lambda p: p["spec"].update(hostNetwork="yes"), {"schema"}),
}


@pytest.mark.requirement("SEC-003")
@pytest.mark.parametrize("case", sorted(PLANTED))
def test_each_planted_violation_fails(tmp_path: Path, case: str) -> None:
    mutate, rules = PLANTED[case]
    pod = compliant_pod()
    mutate(pod)
    result = scan_objects(tmp_path, pod)
    assert {f.rule for f in result.findings} == rules
    assert all(f.message.startswith("Pod/app: ") for f in result.findings)
    assert all(f.path == "k8s/objects.yaml" and f.line == 1 for f in result.findings)


@pytest.mark.requirement("SEC-003")
def test_privileged_deployment_fails_and_reports_are_written(tmp_path: Path) -> None:
    pod = compliant_pod()
    container(pod)["securityContext"]["privileged"] = True
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web"},
        "spec": {
            "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}}, "spec": pod["spec"]},
        },
    }
    result = scan_objects(tmp_path, compliant_pod(), deployment)
    second_document = (tmp_path / "k8s" / "objects.yaml").read_text().splitlines().index("---") + 2
    assert [(f.rule, f.line) for f in result.findings] == [("privileged", second_document)]
    assert result.findings[0].message == "Deployment/web: container 'app' is privileged"
    sarif = json.loads((tmp_path / "reports" / "manifests.sarif").read_text())
    assert [r["ruleId"] for r in sarif["runs"][0]["results"]] == ["privileged"]
    report = json.loads((tmp_path / "reports" / "manifests.json").read_text())
    assert [o["object"] for o in report["objects"]] == ["Pod/app", "Deployment/web"]


def test_job_needs_no_probes(tmp_path: Path) -> None:
    pod = compliant_pod()
    container(pod).pop("livenessProbe")
    container(pod).pop("readinessProbe")
    job = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": "once"},
        "spec": {"template": {"spec": {**pod["spec"], "restartPolicy": "Never"}}},
    }
    assert scan_objects(tmp_path, job).findings == []


def with_annotation(key: str, value: str) -> dict[str, Any]:
    pod = compliant_pod()
    container(pod)["image"] = "ktp-demo:dev"
    pod["metadata"]["annotations"] = {policy.ALLOW_PREFIX + key: value}
    return pod


def test_exception_annotation_allows_one_rule_with_its_reason(tmp_path: Path) -> None:
    reason = "built locally and loaded into kind; never pulled"
    result = scan_objects(tmp_path, with_annotation("image-digest", reason))
    assert result.findings == []
    assert any(
        n.startswith("allowed image-digest on Pod/app") and reason in n for n in result.notes
    )
    # The exception is narrow: it does not cover another rule.
    pod = with_annotation("image-digest", reason)
    container(pod)["securityContext"]["privileged"] = True
    assert {f.rule for f in scan_objects(tmp_path, pod).findings} == {"privileged"}


@pytest.mark.parametrize(
    ("key", "value", "rules"),
    [
        ("image-digest", "", {"exception", "image-digest"}),
        ("image-digests", "a typo in the rule name", {"exception", "image-digest"}),
    ],
)
def test_malformed_exception_is_a_finding(
    tmp_path: Path, key: str, value: str, rules: set[str]
) -> None:
    assert {f.rule for f in scan_objects(tmp_path, with_annotation(key, value)).findings} == rules


def test_custom_resource_needs_an_exception(tmp_path: Path) -> None:
    widget: dict[str, Any] = {
        "apiVersion": "example.com/v1",
        "kind": "Widget",
        "metadata": {"name": "w"},
    }
    assert {f.rule for f in scan_objects(tmp_path, widget).findings} == {"unknown-kind"}
    allowed = copy.deepcopy(widget)
    allowed["metadata"]["annotations"] = {
        policy.ALLOW_PREFIX + "unknown-kind": "its CRD ships with the operator chart"
    }
    assert scan_objects(tmp_path, allowed).findings == []


def test_tool_config_and_kustomize_files_are_skipped(tmp_path: Path) -> None:
    folder = tmp_path / "k8s"
    (folder / "platform").mkdir(parents=True)
    (folder / "kind-config.yaml").write_text(
        "kind: Cluster\napiVersion: kind.x-k8s.io/v1alpha4\nnodes:\n  - role: control-plane\n"
    )
    (folder / "platform" / "kustomization.yaml").write_text(
        "resources: [pod.yaml]\npatches:\n  - path: patch.yaml\n"
    )
    (folder / "platform" / "patch.yaml").write_text("kind: Pod\nmetadata: {name: app}\n")
    (folder / "platform" / "pod.yaml").write_text(
        "---\n" + yaml.safe_dump(compliant_pod()) + "---\n"
    )
    result = manifests.scan(tmp_path, tmp_path / "r", folder=folder, kubernetes_version=VERSION)
    assert result.findings == []
    assert result.checked == 1
    assert len([n for n in result.notes if n.startswith("skipped")]) == 3


def test_yaml_that_is_no_object_is_a_finding(tmp_path: Path) -> None:
    folder = tmp_path / "k8s"
    folder.mkdir()
    (folder / "values.yaml").write_text("replicas: 3\n")
    (folder / "pod.yaml").write_text(yaml.safe_dump(compliant_pod()))
    result = manifests.scan(tmp_path, tmp_path / "r", folder=folder, kubernetes_version=VERSION)
    assert [(f.rule, f.path) for f in result.findings] == [("not-an-object", "k8s/values.yaml")]


def test_no_objects_is_an_error_not_clean(tmp_path: Path) -> None:
    (tmp_path / "k8s").mkdir()
    with pytest.raises(ScanError, match="no Kubernetes objects found"):
        manifests.scan(tmp_path, tmp_path / "r", kubernetes_version=VERSION)


def test_version_without_schemas_is_an_error() -> None:
    with pytest.raises(ScanError, match=r"ships no schemas for Kubernetes 1\.99"):
        manifests.schema_validator("v1.99.0")


def test_placeholder_images_are_checked_as_pinned() -> None:
    pod = compliant_pod()
    container(pod)["image"] = "postgres"
    resolved = manifests.resolve_images(pod, {"postgres": DIGEST})
    assert container(resolved)["image"] == DIGEST
    assert container(pod)["image"] == "postgres"
