"""The kind node image's recipe: what it tells kubeadm, kind and containerd to run.

A node image built here can only run images it carries (no registry answers), so
every name it hands on must be a built reference. Building it takes a minute and
needs root (mmdebstrap); the real build and boot are CLU-015 (integration) and the
e2e tier on kind.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import yaml

from testing import images, pins
from testing.images import kind_node
from testing.images.errors import ImageError


def _images_named(manifest: str) -> list[str]:
    found = []
    for document in yaml.safe_load_all(manifest):
        spec = (document or {}).get("spec", {}).get("template", {}).get("spec", {})
        for container in [*spec.get("initContainers", []), *spec.get("containers", [])]:
            found.append(container["image"])
    return found


@pytest.mark.requirement("IMG-003")
def test_the_default_cni_and_storage_manifests_name_only_built_images() -> None:
    manifests = kind_node._manifests()
    cni = _images_named(manifests["default-cni.yaml"])
    assert cni == [kind_node.kube_router_reference()] * 2
    storage = manifests["default-storage.yaml"]
    assert _images_named(storage) == [images.reference("local-path-provisioner", "built")]
    assert images.reference("local-path-helper", "built") in storage
    assert "@LOCAL_PATH_DIR@" not in storage
    assert kind_node.LOCAL_PATH_DIR in storage


@pytest.mark.requirement("IMG-003")
def test_kubeadm_is_pointed_at_the_control_plane_etcd_and_dns_images_the_node_carries() -> None:
    (patch,) = kind_node.kubeadm_patches()
    cluster = yaml.safe_load(patch)
    assert cluster["kind"] == "ClusterConfiguration"
    assert cluster["imageRepository"] == kind_node.KUBE_REPOSITORY
    assert cluster["etcd"]["local"] == {
        "imageRepository": kind_node.KUBE_REPOSITORY,
        "imageTag": pins.pin("etcd"),
    }
    dns = f"{cluster['dns']['imageRepository']}/coredns:{cluster['dns']['imageTag']}"
    assert dns == images.reference("coredns", "built")


@pytest.mark.requirement("IMG-003")
def test_containerd_runs_the_built_pause_image_or_the_build_says_what_changed(
    tmp_path: Path,
) -> None:
    config = tmp_path / "etc" / "containerd" / "config.toml"
    config.parent.mkdir(parents=True)
    config.write_text(
        '[plugins."io.containerd.grpc.v1.cri"]\n  sandbox_image = "registry.k8s.io/pause:3.10"\n'
    )
    text = kind_node._containerd_config(tmp_path)
    assert f'sandbox_image = "{images.reference("pause", "built")}"' in text
    assert "registry.k8s.io" not in text
    config.write_text('[plugins."io.containerd.grpc.v1.cri"]\n  sandbox_image = "other"\n')
    with pytest.raises(ImageError, match=r"kind's containerd config no longer has .*pause:3\.10"):
        kind_node._containerd_config(tmp_path)


@pytest.mark.requirement("IMG-003")
def test_the_runtime_spec_drops_rlimits_and_keeps_kinds_product_files_hook(
    tmp_path: Path,
) -> None:
    spec = {
        "process": {"rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}]},
        "hooks": {"createContainer": [{"path": "/existing"}]},
    }
    ctr = tmp_path / "ctr"
    ctr.write_text(f"#!{sys.executable}\nprint({json.dumps(json.dumps(spec))})\n")
    ctr.chmod(0o755)
    result = json.loads(kind_node._base_runtime_spec(ctr))
    assert "rlimits" not in result["process"]
    assert result["hooks"]["createContainer"] == [
        {"path": "/existing"},
        {"path": "/kind/bin/mount-product-files.sh"},
    ]


@pytest.mark.requirement("IMG-003")
def test_the_node_reference_follows_its_inputs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    copy = tmp_path / "kube-router.yaml"
    copy.write_text(kind_node.CNI_MANIFEST.read_text())
    monkeypatch.setattr(kind_node, "CNI_MANIFEST", copy)
    first = kind_node.node_reference()
    assert first.startswith("ktp.local/kind-node:")
    assert kind_node.node_reference() == first
    copy.write_text(copy.read_text() + "# changed\n")
    assert kind_node.node_reference() != first
