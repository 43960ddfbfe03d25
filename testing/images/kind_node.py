"""The kind node image, built here: kind clusters without a registry and without ``docker build``.

``kind build node-image`` fetches the control-plane, CNI and storage images with
``ctr content fetch``, and its base image comes from a registry, so neither runs where
no registry answers. This module writes an image with the same contract from the
pieces this project already builds:

* a Debian root filesystem (``mmdebstrap``; systemd 252, which still boots on cgroup v1)
  with kind's own base files (the entrypoint, systemd units, containerd config) copied
  from the pinned kind module's source;
* kubeadm, kubelet and kubectl from the same Kubernetes build as the kwok control plane,
  containerd 2.x and runc 1.5 (``go install``), with :mod:`testing.runc_wrapper`
  in front of runc: it edits container specs only where the node lacks CAP_SYS_RESOURCE;
* ``/kind/version``, the default CNI manifest (kube-router, see
  ``k8s/kind-node/kube-router.yaml``) and the default storage manifest (local-path);
* image archives of everything kubeadm and those manifests run, imported into
  containerd by a oneshot unit before the kubelet starts. kubeadm is told the
  repository (:data:`KUBE_REPOSITORY`) with :func:`kubeadm_patches`, so no built
  image carries an upstream registry's name.

The reference is content-addressed like every built image, so a changed input builds
a new node image and an unchanged one builds nothing.
"""

from __future__ import annotations

import hashlib
import json
import sys
from collections.abc import Callable
from pathlib import Path

from testing import pins, runc_wrapper, tools
from testing.images import BUILT_REGISTRY, reference
from testing.images.archive import ImageConfig, Layer, LayerWriter, write_archive
from testing.images.build import build_archive, cached_archive
from testing.images.errors import ImageError
from testing.images.recipes import RECIPE_VERSION, base_files, debian, rootfs, run, sources

RUNC_WRAPPER = Path(runc_wrapper.__file__)
CNI_MANIFEST = pins.REPO_ROOT / "k8s" / "kind-node" / "kube-router.yaml"
STORAGE_MANIFEST = pins.REPO_ROOT / "k8s" / "local" / "local-path-storage.yaml"
NODE_NAME = "kind-node"
#: kubeadm's ``imageRepository`` for clusters on this node image.
KUBE_REPOSITORY = f"{BUILT_REGISTRY}/kubernetes"
CONTROL_PLANE = ("kube-apiserver", "kube-controller-manager", "kube-scheduler")
#: Debian packages of the node, as kind's base image lists them (minus NFS, iSCSI and
#: fuse-overlayfs, which no test here uses), plus python3 for the runc wrapper and the
#: CNI plugins kube-router's configuration calls (bridge, host-local, portmap, loopback).
NODE_PACKAGES = (
    "conntrack", "iptables", "nftables", "iproute2", "ethtool", "util-linux", "mount",
    "kmod", "libseccomp2", "pigz", "bash", "ca-certificates", "curl", "jq", "procps",
    "containernetworking-plugins",
)  # fmt: skip
#: What kube-proxy and kube-router run with: the iptables front ends and ipset.
NETWORK_PACKAGES = ("iptables", "ipset", "iproute2", "conntrack")
CNI_PLUGINS = ("bridge", "host-local", "loopback", "portmap")
IMAGES_DIR = "/kind/images"
LOCAL_PATH_DIR = "/var/local-path-provisioner"
#: Images of the node that this project already builds (testing.images keys).
NODE_IMAGE_KEYS = ("pause", "coredns", "local-path-provisioner", "local-path-helper")

# Picks the iptables back end the node uses (the kubelet marks it with the
# KUBE-IPTABLES-HINT chain; else whichever holds more rules), then runs the command.
SELECT_IPTABLES = """#!/bin/sh
mode=nft
if iptables-legacy-save -t mangle 2>/dev/null | grep -q KUBE-IPTABLES-HINT; then
  mode=legacy
elif ! iptables-nft-save -t mangle 2>/dev/null | grep -q KUBE-IPTABLES-HINT; then
  legacy=$(iptables-legacy-save 2>/dev/null | grep -c '^-')
  nft=$(iptables-nft-save 2>/dev/null | grep -c '^-')
  [ "${legacy:-0}" -gt "${nft:-0}" ] && mode=legacy
fi
for tool in iptables ip6tables; do
  update-alternatives --quiet --set "$tool" "/usr/sbin/$tool-$mode"
done
exec "$@"
"""

IMPORT_UNIT = f"""[Unit]
Description=Import the images this node image carries into containerd (no registry needed)
After=containerd.service
Requires=containerd.service
Before=kubelet.service

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/bin/sh -euc 'for archive in {IMAGES_DIR}/*.tar; do \
/usr/local/bin/ctr --namespace k8s.io images import --local "$archive"; done'

[Install]
WantedBy=multi-user.target
"""

KUBELET_AFTER_IMPORT = """[Unit]
Wants=ktp-import-images.service
After=ktp-import-images.service
"""

Say = Callable[[str], None]


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _kind_module_dir() -> Path:
    spec = f"{pins.pin('kind', 'module')}@{pins.pin('kind')}"
    out = run([tools.go_binary(), "mod", "download", "-json", spec], what=f"go mod download {spec}")
    return Path(json.loads(out)["Dir"])


def _file_digest(*paths: Path) -> str:
    sha = hashlib.sha256()
    for path in paths:
        sha.update(path.name.encode() + b"\0" + path.read_bytes())
    return sha.hexdigest()


def inputs() -> list[str]:
    """Everything the node image is made from, named before anything is built."""
    specs = [tools.known_tools()[name] for name in ("containerd", "runc", "kube-router")]
    return [
        RECIPE_VERSION,
        f"kind={pins.pin('kind')}",
        f"kubernetes={pins.pin('kubernetes')}",
        f"etcd={pins.pin('etcd')}",
        *(f"{spec.module_spec},{','.join(spec.install_specs)}" for spec in specs),
        *sources(),
        debian("systemd"),
        debian("python"),
        ",".join(NODE_PACKAGES),
        ",".join(NETWORK_PACKAGES),
        *(reference(key, "built") for key in NODE_IMAGE_KEYS),
        _file_digest(Path(__file__), RUNC_WRAPPER, CNI_MANIFEST, STORAGE_MANIFEST),
    ]


def node_reference() -> str:
    sha = hashlib.sha256("\0".join(inputs()).encode())
    return f"{BUILT_REGISTRY}/{NODE_NAME}:{sha.hexdigest()[:12]}"


def etcd_tag() -> str:
    return pins.pin("etcd")


def kubeadm_patches() -> list[str]:
    """kind ``kubeadmConfigPatches`` that make kubeadm run the images this node carries."""
    coredns = reference("coredns", "built")
    dns_repository, dns_tag = coredns.rsplit(":", 1)
    return [
        "kind: ClusterConfiguration\n"
        f"imageRepository: {KUBE_REPOSITORY}\n"
        "dns:\n"
        f"  imageRepository: {dns_repository.rsplit('/', 1)[0]}\n"
        f"  imageTag: {dns_tag}\n"
        "etcd:\n"
        "  local:\n"
        f"    imageRepository: {KUBE_REPOSITORY}\n"
        f"    imageTag: {etcd_tag()}\n"
    ]


# --- the images inside the node ----------------------------------------------------------


def _binary_image(work: Path, name: str, binary: Path) -> tuple[list[Layer], ImageConfig]:
    layer = LayerWriter(work / f"{name}.layer.tar")
    base_files(layer)
    layer.file(f"/usr/local/bin/{name}", binary.read_bytes(), 0o755)
    config = ImageConfig(entrypoint=[name], env={"PATH": "/usr/local/bin:/usr/bin:/bin"})
    return [layer.close()], config


def _network_images(work: Path, binaries: Path) -> dict[str, tuple[list[Layer], ImageConfig]]:
    """kube-proxy and kube-router: the binary on a Debian base with the iptables tools."""
    base_dir = work / "network-base"
    base_dir.mkdir()
    base = rootfs(base_dir, list(NETWORK_PACKAGES))
    env = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}
    proxy = LayerWriter(work / "kube-proxy.layer.tar")
    proxy.file("/usr/local/bin/select-iptables", SELECT_IPTABLES.encode(), 0o755)
    proxy.file("/usr/local/lib/kube-proxy", (binaries / "kube-proxy").read_bytes(), 0o755)
    # kubeadm's DaemonSet runs /usr/local/bin/kube-proxy: choose the back end first.
    proxy.file(
        "/usr/local/bin/kube-proxy",
        b'#!/bin/sh\nexec /usr/local/bin/select-iptables /usr/local/lib/kube-proxy "$@"\n',
        0o755,
    )
    router = LayerWriter(work / "kube-router.layer.tar")
    router.file("/usr/local/bin/select-iptables", SELECT_IPTABLES.encode(), 0o755)
    router.file("/usr/local/bin/kube-router", tools.resolve("kube-router").read_bytes(), 0o755)
    return {
        "kube-proxy": ([base, proxy.close()], ImageConfig(env=env)),
        "kube-router": (
            [base, router.close()],
            ImageConfig(
                entrypoint=["/usr/local/bin/select-iptables", "/usr/local/bin/kube-router"],
                env=env,
            ),
        ),
    }


def _node_archives(work: Path, binaries: Path, *, say: Say) -> dict[str, Path]:
    """Image archives the node imports at boot, by file name."""
    version = pins.pin("kubernetes")
    made: dict[str, tuple[str, tuple[list[Layer], ImageConfig]]] = {}
    for name in CONTROL_PLANE:
        made[name] = (
            f"{KUBE_REPOSITORY}/{name}:{version}",
            _binary_image(work, name, binaries / name),
        )
    made["etcd"] = (
        f"{KUBE_REPOSITORY}/etcd:{etcd_tag()}",
        _binary_image(work, "etcd", binaries / "etcd"),
    )
    network = _network_images(work, binaries)
    made["kube-proxy"] = (f"{KUBE_REPOSITORY}/kube-proxy:{version}", network["kube-proxy"])
    made["kube-router"] = (kube_router_reference(), network["kube-router"])
    archives: dict[str, Path] = {}
    for name, (ref, (layers, config)) in made.items():
        archives[f"{name}.tar"] = work / f"{name}.image.tar"
        write_archive(archives[f"{name}.tar"], ref, layers, config)
    for key in NODE_IMAGE_KEYS:
        archives[f"{key}.tar"] = build_archive(key, reference(key, "built"), say=say)
    return archives


def kube_router_reference() -> str:
    return f"{BUILT_REGISTRY}/kube-router:{pins.pin('kube-router')}"


# --- the node's own files ----------------------------------------------------------------


def _manifests() -> dict[str, str]:
    cni = CNI_MANIFEST.read_text(encoding="utf-8").replace(
        "image: ktp.local/kube-router:@VERSION@", f"image: {kube_router_reference()}"
    )
    storage = STORAGE_MANIFEST.read_text(encoding="utf-8").replace(
        "@LOCAL_PATH_DIR@", LOCAL_PATH_DIR
    )
    for key in ("local-path-provisioner", "local-path-helper"):
        storage = storage.replace(f"image: {key}\n", f"image: {reference(key, 'built')}\n")
    return {"default-cni.yaml": cni, "default-storage.yaml": storage}


def _containerd_config(kind_files: Path) -> str:
    config = (kind_files / "etc/containerd/config.toml").read_text(encoding="utf-8")
    old = 'sandbox_image = "registry.k8s.io/pause:3.10"'
    if old not in config:
        raise ImageError(f"kind's containerd config no longer has {old!r}: update {__name__}")
    return config.replace(old, f'sandbox_image = "{reference("pause", "built")}"')


def _base_runtime_spec(ctr: Path) -> bytes:
    """``ctr oci spec`` as kind's base image edits it: no rlimits, plus the product-files hook."""
    spec = json.loads(run([str(ctr), "oci", "spec"], what="ctr oci spec"))
    spec.get("process", {}).pop("rlimits", None)
    hooks = spec.setdefault("hooks", {}).setdefault("createContainer", [])
    hooks.append({"path": "/kind/bin/mount-product-files.sh"})
    return json.dumps(spec, indent=2).encode()


def _files_layer(work: Path, binaries: Path, archives: dict[str, Path]) -> Layer:
    kind_files = _kind_module_dir() / "images" / "base" / "files"
    layer = LayerWriter(work / "files.tar")
    for path in sorted(kind_files.rglob("*")):
        if path.is_dir() or path.name == "README.txt":
            continue
        relative = path.relative_to(kind_files).as_posix()
        executable = relative.startswith(("usr/local/bin/", "kind/bin/"))
        data = path.read_bytes()
        if relative == "etc/containerd/config.toml":
            data = _containerd_config(kind_files).encode()
        layer.file(f"/{relative}", data, 0o755 if executable else 0o644)
    containerd = tools.resolve("containerd").parent
    for name in ("containerd", "containerd-shim-runc-v2", "ctr"):
        layer.file(f"/usr/local/bin/{name}", (containerd / name).read_bytes(), 0o755)
    real_runc = "/usr/local/libexec/runc"
    layer.file(real_runc, tools.resolve("runc").read_bytes(), 0o755)
    python = debian("python").split("=", 1)[0]  # the package is named after its binary
    wrapper = runc_wrapper.script(real_runc, f"/usr/bin/{python}")
    layer.file("/usr/local/sbin/runc", wrapper.encode(), 0o755)
    layer.file("/etc/containerd/cri-base.json", _base_runtime_spec(containerd / "ctr"))
    for name in ("kubeadm", "kubelet", "kubectl"):
        layer.file(f"/usr/bin/{name}", (binaries / name).read_bytes(), 0o755)
    layer.file("/kind/version", pins.pin("kubernetes").encode())
    for name, text in _manifests().items():
        layer.file(f"/kind/manifests/{name}", text.encode())
    for name, archive in sorted(archives.items()):
        layer.file(f"{IMAGES_DIR}/{name}", archive.read_bytes())
    layer.file("/etc/systemd/system/ktp-import-images.service", IMPORT_UNIT.encode())
    layer.file(
        "/etc/systemd/system/kubelet.service.d/20-ktp-images.conf", KUBELET_AFTER_IMPORT.encode()
    )
    # What `systemctl enable` and `systemctl mask` would write, as kind's Dockerfile runs them.
    wants = "/etc/systemd/system/multi-user.target.wants"
    for unit in ("kubelet", "containerd", "undo-mount-hacks", "ktp-import-images"):
        layer.symlink(f"{wants}/{unit}.service", f"/etc/systemd/system/{unit}.service")
    layer.symlink("/etc/systemd/system/systemd-binfmt.service", "/dev/null")
    for plugin in CNI_PLUGINS:
        layer.symlink(f"/opt/cni/bin/{plugin}", f"/usr/lib/cni/{plugin}")
    layer.directory("/etc/kubernetes/manifests")
    layer.directory("/etc/cni/net.d")
    return layer.close()


# kind's Dockerfile: drop the units a container must not start, and read no kernel log.
NODE_HOOKS = (
    'rm -f "$1"/lib/systemd/system/sysinit.target.wants/systemd-tmpfiles-setup.service',
    'rm -f "$1"/lib/systemd/system/multi-user.target.wants/*',
    'rm -f "$1"/etc/systemd/system/*.wants/*',
    'rm -f "$1"/lib/systemd/system/local-fs.target.wants/*',
    'rm -f "$1"/lib/systemd/system/sockets.target.wants/*udev*',
    'rm -f "$1"/lib/systemd/system/sockets.target.wants/*initctl*',
    'rm -f "$1"/lib/systemd/system/basic.target.wants/*',
    'echo ReadKMsg=no >> "$1"/etc/systemd/journald.conf',
    'ln -sf /usr/lib/systemd/systemd "$1"/sbin/init',
)


def _node_rootfs(work: Path) -> Layer:
    packages = [debian("systemd"), debian("python"), *NODE_PACKAGES]
    return rootfs(work, packages, customize=NODE_HOOKS)


def build_node(binaries: Path, work: Path, *, say: Say) -> tuple[list[Layer], ImageConfig]:
    """Layers and config of the node image; ``binaries`` holds the Kubernetes build."""
    missing = [
        n
        for n in (*CONTROL_PLANE, "etcd", "kube-proxy", "kubeadm", "kubelet", "kubectl")
        if not (binaries / n).is_file()
    ]
    if missing:
        raise ImageError(
            f"{binaries} lacks {', '.join(missing)}: the Kubernetes build is incomplete"
        )
    archives = _node_archives(work, binaries, say=say)
    rootfs_dir = work / "node-rootfs"
    rootfs_dir.mkdir()
    layers = [_node_rootfs(rootfs_dir), _files_layer(work, binaries, archives)]
    config = ImageConfig(
        entrypoint=["/usr/local/bin/entrypoint", "/sbin/init"],
        env={"container": "docker"},
        stop_signal="SIGRTMIN+3",
    )
    return layers, config


def node_archive(binaries: Path, *, say: Say = _say) -> tuple[str, Path]:
    """The node image's reference and its cached archive, built first if missing."""
    ref = node_reference()
    return ref, cached_archive(
        NODE_NAME, ref, lambda work: build_node(binaries, work, say=say), say=say
    )
