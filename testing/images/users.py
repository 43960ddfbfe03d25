"""Built images run as a non-root user; the few that must be root say why, here.

The check runs in :func:`testing.images.archive.write_archive`, which every image the
project builds passes through, so an image cannot be written as root by accident.
A manifest may still choose another uid (``runAsUser``); this is the image's default.
"""

from __future__ import annotations

from testing.images import BUILT_REGISTRY
from testing.images.errors import ImageError

#: The uid:gid of built images that need no particular user (distroless's ``nonroot``).
NONROOT = "65532:65532"

_KUBEADM_STATIC_POD = (
    "kubeadm's static pod runs it as root, reading root-owned keys under /etc/kubernetes "
    "(its RootlessControlPlane feature gate is off)"
)
#: Repository under the built registry (``ktp.local/``) -> why that image runs as root.
ROOT_BY_NECESSITY: dict[str, str] = {
    "kind-node": "systemd is PID 1 of a kind node and runs containerd and the kubelet",
    "kubernetes/kube-apiserver": _KUBEADM_STATIC_POD,
    "kubernetes/kube-controller-manager": _KUBEADM_STATIC_POD,
    "kubernetes/kube-scheduler": _KUBEADM_STATIC_POD,
    "kubernetes/etcd": "kubeadm's static pod runs it as root over the root-owned /var/lib/etcd",
    "kubernetes/kube-proxy": "it programs the node's iptables rules, as kubeadm's DaemonSet "
    "runs it",
    "kube-router": "it programs the node's routes, iptables and ipsets and writes its CNI "
    "configuration (k8s/kind-node/kube-router.yaml says so too)",
    "local-path-helper": "it creates and removes volume directories under the node's "
    "root-owned local-path directory, as upstream's helper pod does",
}


def image_name(reference: str) -> str:
    """The repository below the project's own registry: ``ktp.local/kubernetes/etcd:3.6``
    -> ``kubernetes/etcd``. Any other registry's reference keeps its host, so it can never
    match an exemption meant for an image built here."""
    repository = reference.split("@", 1)[0]
    last = repository.rsplit("/", 1)[-1]
    if ":" in last:
        repository = repository[: len(repository) - len(last) + last.index(":")]
    return repository.removeprefix(f"{BUILT_REGISTRY}/")


def is_root(user: str) -> bool:
    """An image config's ``User`` that means uid 0 (empty means root too)."""
    uid = user.split(":", 1)[0].strip()
    return uid in ("", "0", "root")


def check(reference: str, user: str) -> None:
    """Refuse to write a root image that has no reason in :data:`ROOT_BY_NECESSITY`."""
    if is_root(user) and image_name(reference) not in ROOT_BY_NECESSITY:
        raise ImageError(
            f"image {reference} would run as root (User {user!r}): give it a non-root user "
            f"(e.g. {NONROOT}) or, if it cannot work otherwise, a reason in "
            "testing/images/users.py ROOT_BY_NECESSITY"
        )
