"""Server-side apply against the real API server: order, idempotence, CRDs, errors."""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest
from k8s_support import MANIFESTS
from kubernetes import client as k8s
from kubernetes.client import ApiClient

from testing.k8s.apply import FIELD_MANAGER, ApplyError, apply_objects, apply_paths, kind_rank
from testing.k8s.wait import wait_for_deployment, wait_for_job


@pytest.mark.requirement("K8S-001")
def test_directory_is_applied_in_dependency_order_and_workloads_start(
    k8s_client: ApiClient, namespace: str
) -> None:
    applied = apply_paths(k8s_client, [MANIFESTS / "app"], namespace=namespace)
    kinds = [obj.kind for obj in applied]
    assert kinds == [
        "ServiceAccount",
        "Role",
        "RoleBinding",
        "ConfigMap",
        "Secret",
        "Service",
        "Deployment",
        "Job",
    ]
    assert [kind_rank(kind) for kind in kinds] == sorted(kind_rank(kind) for kind in kinds)
    assert {obj.namespace for obj in applied} == {namespace}
    # The Deployment's pods could only be created because the ServiceAccount came first.
    wait_for_deployment(k8s_client, "web", namespace, timeout=60)
    wait_for_job(k8s_client, "migrate", namespace, timeout=60)
    config = k8s.CoreV1Api(k8s_client).read_namespaced_config_map("web-config", namespace)
    assert config.data == {"GREETING": "hello"}
    managers = {entry.manager for entry in config.metadata.managed_fields}
    assert FIELD_MANAGER in managers


@pytest.mark.requirement("K8S-001")
def test_reapply_is_a_no_op_and_a_change_updates_only_that_object(
    k8s_client: ApiClient, namespace: str
) -> None:
    first = apply_paths(k8s_client, [MANIFESTS / "app" / "config"], namespace=namespace)
    again = apply_paths(k8s_client, [MANIFESTS / "app" / "config"], namespace=namespace)
    assert [o.resource_version for o in again] == [o.resource_version for o in first]
    changed = apply_objects(
        k8s_client,
        [
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": "web-config"},
                "data": {"GREETING": "changed"},
            }
        ],
        namespace=namespace,
    )
    assert changed[0].resource_version != first[0].resource_version
    live = k8s.CoreV1Api(k8s_client).read_namespaced_config_map("web-config", namespace)
    assert live.data == {"GREETING": "changed"}
    secret = k8s.CoreV1Api(k8s_client).read_namespaced_secret("web-secret", namespace)
    assert secret.metadata.resource_version == first[1].resource_version


@pytest.mark.requirement("K8S-002")
def test_custom_resource_is_applied_after_its_crd_is_established(
    k8s_client: ApiClient, namespace: str, tmp_path: Path
) -> None:
    group = f"t{secrets.token_hex(4)}.ktp.test"
    (tmp_path / "a-widget.yaml").write_text(
        f"apiVersion: {group}/v1\nkind: Widget\nmetadata: {{name: first}}\nspec: {{size: 3}}\n"
    )
    (tmp_path / "b-crd.yaml").write_text(
        f"""apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {{name: widgets.{group}}}
spec:
  group: {group}
  scope: Namespaced
  names: {{plural: widgets, singular: widget, kind: Widget}}
  versions:
    - name: v1
      served: true
      storage: true
      schema:
        openAPIV3Schema:
          type: object
          properties:
            spec: {{type: object, properties: {{size: {{type: integer}}}}}}
"""
    )
    try:
        applied = apply_paths(k8s_client, [tmp_path], namespace=namespace)
        assert [o.kind for o in applied] == ["CustomResourceDefinition", "Widget"]
        widget = k8s.CustomObjectsApi(k8s_client).get_namespaced_custom_object(
            group, "v1", namespace, "widgets", "first"
        )
        assert widget["spec"] == {"size": 3}
    finally:
        k8s.ApiextensionsV1Api(k8s_client).delete_custom_resource_definition(f"widgets.{group}")


@pytest.mark.requirement("K8S-001")
def test_invalid_object_fails_naming_it_and_the_server_reason(
    k8s_client: ApiClient, namespace: str
) -> None:
    bad = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "bad"},
        "spec": {"ports": [{"port": 70000}]},
    }
    with pytest.raises(ApplyError) as caught:
        apply_objects(k8s_client, [bad], namespace=namespace)
    message = str(caught.value)
    assert message.startswith(f"applying Service {namespace}/bad failed:")
    assert "70000" in message
    assert "\n" not in message


@pytest.mark.requirement("K8S-001")
def test_object_in_another_namespace_is_refused(k8s_client: ApiClient, namespace: str) -> None:
    other = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "x", "namespace": "kube-system"},
    }
    with pytest.raises(ApplyError, match="says namespace 'kube-system'"):
        apply_objects(k8s_client, [other], namespace=namespace)
