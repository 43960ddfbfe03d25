"""Image archives written without Docker: the docker-archive layout, plus an OCI index.

``crane`` builds images from tarballs but needs a registry to set the config
(entrypoint, user, env); no registry is reachable on the machines this project
targets, and the format is small and specified (a ``manifest.json`` naming a config
blob and layer tars, and the OCI ``index.json``/``oci-layout`` beside it, as ``docker
save`` writes since v25). ``ctr images import``, ``docker load``, ``podman load`` and
``kind load image-archive`` all read it. Output is deterministic: same inputs, same
bytes, so the content hash of an image is stable.
"""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from testing.images import users

EPOCH = 0


@dataclass
class Layer:
    """One filesystem layer, as an uncompressed tar held on disk."""

    path: Path

    def digest(self) -> str:
        sha = hashlib.sha256()
        with self.path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                sha.update(block)
        return sha.hexdigest()


@dataclass
class ImageConfig:
    entrypoint: list[str] | None = None
    cmd: list[str] | None = None
    env: dict[str, str] = field(default_factory=dict)
    user: str = ""
    workdir: str = "/"
    ports: list[str] = field(default_factory=list)
    labels: dict[str, str] = field(default_factory=dict)
    stop_signal: str = ""

    def as_json(self, diff_ids: list[str]) -> dict[str, Any]:
        config: dict[str, Any] = {
            "Env": [f"{k}={v}" for k, v in self.env.items()],
            "WorkingDir": self.workdir,
            "Labels": dict(self.labels),
        }
        if self.entrypoint is not None:
            config["Entrypoint"] = self.entrypoint
        if self.cmd is not None:
            config["Cmd"] = self.cmd
        if self.user:
            config["User"] = self.user
        if self.stop_signal:
            config["StopSignal"] = self.stop_signal
        if self.ports:
            config["ExposedPorts"] = {port: {} for port in self.ports}
        return {
            "architecture": "amd64",
            "os": "linux",
            "created": "1970-01-01T00:00:00Z",
            "config": config,
            "rootfs": {"type": "layers", "diff_ids": [f"sha256:{d}" for d in diff_ids]},
            "history": [{"created": "1970-01-01T00:00:00Z", "created_by": "testing.images"}],
        }


class LayerWriter:
    """Builds a layer tar from files and directories with fixed owners and times."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._tar = tarfile.open(path, "w", format=tarfile.PAX_FORMAT)  # noqa: SIM115
        self._seen: set[str] = set()

    def _info(self, name: str, kind: bytes, mode: int, uid: int, gid: int) -> tarfile.TarInfo:
        info = tarfile.TarInfo(name.lstrip("/"))
        info.type, info.mode, info.uid, info.gid, info.mtime = kind, mode, uid, gid, EPOCH
        return info

    def directory(self, name: str, mode: int = 0o755, uid: int = 0, gid: int = 0) -> None:
        parts = name.strip("/").split("/")
        for i in range(1, len(parts) + 1):
            path = "/".join(parts[:i])
            if path in self._seen:
                continue
            self._seen.add(path)
            last = i == len(parts)
            info = self._info(
                path, tarfile.DIRTYPE, mode if last else 0o755, *((uid, gid) if last else (0, 0))
            )
            self._tar.addfile(info)

    def file(self, name: str, data: bytes, mode: int = 0o644, uid: int = 0, gid: int = 0) -> None:
        parent = name.strip("/").rsplit("/", 1)[0] if "/" in name.strip("/") else ""
        if parent:
            self.directory(parent)
        info = self._info(name, tarfile.REGTYPE, mode, uid, gid)
        info.size = len(data)
        self._tar.addfile(info, io.BytesIO(data))
        self._seen.add(name.strip("/"))

    def symlink(self, name: str, target: str) -> None:
        parent = name.strip("/").rsplit("/", 1)[0]
        self.directory(parent)
        info = self._info(name, tarfile.SYMTYPE, 0o777, 0, 0)
        info.linkname = target
        self._tar.addfile(info)

    def tree(self, source: Path, target: str, *, skip: Iterable[str] = ()) -> None:
        """Copy a directory tree (sorted, so the bytes are stable), minus names in ``skip``."""
        skipped = set(skip)
        self.directory(target)
        for path in sorted(source.rglob("*")):
            relative = path.relative_to(source)
            if any(part in skipped for part in relative.parts):
                continue
            name = f"{target.rstrip('/')}/{relative.as_posix()}"
            if path.is_symlink():
                self.symlink(name, str(path.readlink()))
            elif path.is_dir():
                self.directory(name)
            else:
                mode = 0o755 if path.stat().st_mode & 0o111 else 0o644
                self.file(name, path.read_bytes(), mode)

    def close(self) -> Layer:
        self._tar.close()
        return Layer(self.path)


def _add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mtime, info.mode = len(data), EPOCH, 0o644
    tar.addfile(info, io.BytesIO(data))


def _add_file(tar: tarfile.TarFile, name: str, path: Path) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mtime, info.mode = path.stat().st_size, EPOCH, 0o644
    with path.open("rb") as handle:
        tar.addfile(info, handle)


def write_archive(out: Path, reference: str, layers: list[Layer], config: ImageConfig) -> str:
    """Write the archive of one image to ``out``; return the config digest (the image id).

    Refuses an image that would run as root without a reason (:mod:`testing.images.users`).
    """
    users.check(reference, config.user)
    diff_ids = [layer.digest() for layer in layers]
    config_bytes = json.dumps(config.as_json(diff_ids), sort_keys=True).encode()
    config_digest = hashlib.sha256(config_bytes).hexdigest()
    layer_sizes = [layer.path.stat().st_size for layer in layers]
    manifest = [
        {
            "Config": f"blobs/sha256/{config_digest}",
            "RepoTags": [reference],
            "Layers": [f"blobs/sha256/{d}" for d in diff_ids],
        }
    ]
    oci_manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": f"sha256:{config_digest}",
            "size": len(config_bytes),
        },
        "layers": [
            {
                "mediaType": "application/vnd.oci.image.layer.v1.tar",
                "digest": f"sha256:{d}",
                "size": size,
            }
            for d, size in zip(diff_ids, layer_sizes, strict=True)
        ],
    }
    oci_bytes = json.dumps(oci_manifest, sort_keys=True).encode()
    oci_digest = hashlib.sha256(oci_bytes).hexdigest()
    index = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [
            {
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "digest": f"sha256:{oci_digest}",
                "size": len(oci_bytes),
                "annotations": {
                    "io.containerd.image.name": reference,
                    "org.opencontainers.image.ref.name": reference.rsplit(":", 1)[-1],
                },
            }
        ],
    }
    with tarfile.open(out, "w", format=tarfile.PAX_FORMAT) as tar:
        _add(tar, "oci-layout", b'{"imageLayoutVersion": "1.0.0"}')
        _add(tar, "index.json", json.dumps(index, sort_keys=True).encode())
        _add(tar, "manifest.json", json.dumps(manifest, sort_keys=True).encode())
        _add(tar, f"blobs/sha256/{config_digest}", config_bytes)
        _add(tar, f"blobs/sha256/{oci_digest}", oci_bytes)
        for digest, layer in zip(diff_ids, layers, strict=True):
            _add_file(tar, f"blobs/sha256/{digest}", layer.path)
    return config_digest
