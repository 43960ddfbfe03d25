"""The kind node image's recipe: what it tells kubeadm, kind and containerd to run.

A node image built here can only run images it carries (no registry answers), so
every name it hands on must be a built reference, and must be among the archives it
imports. Building it takes a minute and needs root (mmdebstrap), so these tests read
the recipe; the containerd config and ``ctr`` they feed it are stand-ins. The real
build and boot are CLU-015 and CLU-017 (integration) and the e2e tier on kind.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import yaml

from testing import images, pins
from testing.images import kind_node
from testing.images.archive import ImageConfig
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
    first = kind_node.node_reference()
    assert first.startswith("ktp.local/kind-node:")
    assert kind_node.node_reference() == first
    for attribute in ("CNI_MANIFEST", "STORAGE_MANIFEST", "RUNC_WRAPPER"):
        original = getattr(kind_node, attribute)
        copy = tmp_path / original.name
        copy.write_text(original.read_text())
        monkeypatch.setattr(kind_node, attribute, copy)
        assert kind_node.node_reference() == first, attribute  # same bytes, same image
        copy.write_text(copy.read_text() + "# changed\n")
        assert kind_node.node_reference() != first, attribute
        monkeypatch.setattr(kind_node, attribute, original)


@pytest.mark.requirement("IMG-003")
def test_the_node_carries_every_image_that_kubeadm_its_manifests_and_containerd_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The archives the node imports at boot, by reference; their layers (binaries,
    mmdebstrap root filesystems) are stood in for, as only the names matter here."""
    written: list[str] = []

    def write_archive(out: Path, ref: str, layers: object, config: object) -> str:
        written.append(ref)
        return ""

    def build_archive(key: str, ref: str, *, say: object) -> Path:
        written.append(ref)
        return tmp_path / f"{key}.tar"

    empty = ([], ImageConfig())
    monkeypatch.setattr(kind_node, "_binary_image", lambda work, name, binary: empty)
    monkeypatch.setattr(
        kind_node, "_network_images", lambda work, bins: {"kube-proxy": empty, "kube-router": empty}
    )
    monkeypatch.setattr(kind_node, "write_archive", write_archive)
    monkeypatch.setattr(kind_node, "build_archive", build_archive)
    archives = kind_node._node_archives(tmp_path, tmp_path, say=lambda message: None)

    cluster = yaml.safe_load(kind_node.kubeadm_patches()[0])
    version = pins.pin("kubernetes")
    control_plane = ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "kube-proxy")
    wanted = {f"{cluster['imageRepository']}/{name}:{version}" for name in control_plane}
    etcd = cluster["etcd"]["local"]
    wanted.add(f"{etcd['imageRepository']}/etcd:{etcd['imageTag']}")
    wanted.add(f"{cluster['dns']['imageRepository']}/coredns:{cluster['dns']['imageTag']}")
    for manifest in kind_node._manifests().values():
        wanted.update(_images_named(manifest))
    wanted.add(images.reference("local-path-helper", "built"))  # the provisioner's helper pods
    wanted.add(images.reference("pause", "built"))  # containerd's sandbox image
    assert sorted(written) == sorted(wanted)
    assert len(archives) == len(wanted)
