"""Dependency order and manifest loading for server-side apply (no cluster needed)."""

from __future__ import annotations

from pathlib import Path

import pytest

from testing.k8s.apply import ApplyError, load_manifests, manifest_files, sort_objects


def obj(kind: str, name: str) -> dict[str, object]:
    return {"apiVersion": "v1", "kind": kind, "metadata": {"name": name}}


def test_sort_puts_dependencies_first_and_keeps_input_order_within_a_kind() -> None:
    shuffled = [
        obj("Job", "migrate"),
        obj("Deployment", "web"),
        obj("Widget", "custom"),
        obj("Service", "web"),
        obj("ConfigMap", "b"),
        obj("RoleBinding", "rb"),
        obj("ConfigMap", "a"),
        obj("Role", "r"),
        obj("ServiceAccount", "sa"),
        obj("CustomResourceDefinition", "widgets"),
        obj("Namespace", "ns"),
    ]
    ordered = [(o["kind"], o["metadata"]["name"]) for o in sort_objects(shuffled)]  # type: ignore[index]
    assert ordered == [
        ("Namespace", "ns"),
        ("CustomResourceDefinition", "widgets"),
        ("ServiceAccount", "sa"),
        ("Role", "r"),
        ("RoleBinding", "rb"),
        ("ConfigMap", "b"),
        ("ConfigMap", "a"),
        ("Service", "web"),
        ("Deployment", "web"),
        ("Job", "migrate"),
        ("Widget", "custom"),
    ]


def test_directories_are_read_recursively_skipping_kustomization(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "a.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n")
    (tmp_path / "sub" / "b.yml").write_text(
        "apiVersion: v1\nkind: Service\nmetadata: {name: b}\n---\n---\n"
        "apiVersion: v1\nkind: List\nitems:\n"
        "- {apiVersion: v1, kind: Secret, metadata: {name: c}}\n"
    )
    (tmp_path / "kustomization.yaml").write_text("resources: [a.yaml]\n")
    (tmp_path / "notes.txt").write_text("not yaml")
    assert [p.name for p in manifest_files([tmp_path])] == ["a.yaml", "b.yml"]
    names = [(o["kind"], o["metadata"]["name"]) for o in load_manifests([tmp_path])]
    assert names == [("ConfigMap", "a"), ("Service", "b"), ("Secret", "c")]


def test_a_document_without_kind_is_rejected_with_its_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("metadata: {name: x}\n")
    with pytest.raises(ApplyError, match=r"bad\.yaml: a document is not a Kubernetes object"):
        load_manifests([bad])


def test_a_missing_path_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ApplyError, match="does not exist"):
        manifest_files([tmp_path / "nope"])
