"""What a built image holds, as a CycloneDX 1.5 SBOM read back from its own archive.

Read from the finished archive, not assembled from the recipe, so the list is what
the image contains whichever code path put it there:

* Debian packages, from dpkg's status file (``pkg:deb`` purls);
* Python distributions installed into a ``site-packages`` tree, from their
  ``.dist-info/METADATA`` (``pkg:pypi``);
* Go modules, from each Go binary's embedded build information, read by
  ``go version -m`` (the Go toolchain's own reader; ``pkg:golang``);
* every other executable file no package owns (the static pause binary, busybox,
  scripts), by SHA-256;
* image archives inside the image (the kind node imports its control plane's images
  at boot), each as a nested ``container`` component with its own contents.

No timestamp and sorted components: the same archive gives the same bytes. The format
is written here rather than through cyclonedx-python-lib, which only the security
environment installs, while every session that builds images writes SBOMs; the
tests validate the output against the CycloneDX 1.5 schema with that library.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import io
import json
import os
import re
import tarfile
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from testing.images.errors import ImageError
from testing.images.recipes import run

SPEC_VERSION = "1.5"
#: The image config's ``User``, recorded for each image (nested ones too).
USER_PROPERTY = "ktp:image:user"
GO_VERSION_TIMEOUT_S = 60
#: The marker Go writes before a binary's build information.
GO_BUILDINFO_MAGIC = b"\xff Go buildinf:"
ELF_MAGIC = b"\x7fELF"
_NESTED_ARCHIVE = re.compile(r"^kind/images/[^/]+\.tar$")
_CHUNK = 1 << 20
#: Top-level directories a merged-/usr system links into /usr.
_MERGED_USR = frozenset({"bin", "sbin", "lib", "lib32", "lib64", "libx32"})


def sbom_path(archive: Path) -> Path:
    """Where the SBOM of ``archive`` lives: beside it, ``<archive stem>.cdx.json``."""
    return archive.with_name(f"{archive.stem}.cdx.json")


@dataclass
class _File:
    layer: str
    member: tarfile.TarInfo


@dataclass
class Contents:
    """An image's final filesystem view: path -> (layer blob, member) after every layer."""

    reference: str
    user: str
    files: dict[str, _File] = field(default_factory=dict)


def _open_archive(archive: Path) -> tuple[tarfile.TarFile, dict[str, Any], dict[str, Any]]:
    outer = tarfile.open(archive)  # noqa: SIM115 - closed by the caller
    try:
        manifest = json.loads(_read(outer, "manifest.json"))[0]
        config = json.loads(_read(outer, manifest["Config"]))
    except (KeyError, ValueError, IndexError) as exc:
        outer.close()
        raise ImageError(f"{archive} is not an image archive ({exc})") from None
    return outer, manifest, config


def _read(tar: tarfile.TarFile, name: str) -> bytes:
    handle = tar.extractfile(name)
    if handle is None:
        raise KeyError(name)
    return handle.read()


def _layers(
    outer: tarfile.TarFile, manifest: dict[str, Any]
) -> Iterator[tuple[str, tarfile.TarFile]]:
    for blob in manifest["Layers"]:
        handle = outer.extractfile(blob)
        if handle is None:
            raise ImageError(f"layer {blob} is missing from the archive")
        with tarfile.open(fileobj=handle) as layer:
            yield blob, layer


def _contents(outer: tarfile.TarFile, manifest: dict[str, Any], config: dict[str, Any]) -> Contents:
    contents = Contents(
        reference=(manifest.get("RepoTags") or ["unnamed"])[0],
        user=str(config.get("config", {}).get("User", "")),
    )
    for blob, layer in _layers(outer, manifest):
        for member in layer.getmembers():
            path = "/" + member.name.removeprefix("./").lstrip("/")
            parent, _, base = path.rpartition("/")
            if base.startswith(".wh."):  # a whiteout: a later layer deleted the path
                gone = f"{parent}/{base.removeprefix('.wh.')}"
                for name in [n for n in contents.files if n == gone or n.startswith(gone + "/")]:
                    del contents.files[name]
                continue
            contents.files[path] = _File(blob, member)
    return contents


@contextlib.contextmanager
def _opened(outer: tarfile.TarFile, entry: _File) -> Iterator[IO[bytes]]:
    """One file of one layer, streamed (a Go binary or a nested archive is large)."""
    handle = outer.extractfile(entry.layer)
    if handle is None:
        raise ImageError(f"layer {entry.layer} is missing from the archive")
    with tarfile.open(fileobj=handle) as layer:
        data = layer.extractfile(entry.member)
        yield data if data is not None else io.BytesIO()


def _member_bytes(outer: tarfile.TarFile, entry: _File) -> bytes:
    with _opened(outer, entry) as data:
        return data.read()


def _blocks(data: IO[bytes]) -> Iterator[bytes]:
    yield from iter(functools.partial(data.read, _CHUNK), b"")


# --- the component kinds ------------------------------------------------------------


def _stanzas(text: str) -> Iterator[dict[str, str]]:
    for block in text.split("\n\n"):
        fields: dict[str, str] = {}
        for line in block.splitlines():
            if line[:1].isspace() or ":" not in line:
                continue
            key, _, value = line.partition(":")
            fields[key] = value.strip()
        if fields:
            yield fields


def debian_packages(status: str) -> list[dict[str, Any]]:
    """Installed packages of a dpkg status file, as CycloneDX components."""
    found = []
    for fields in _stanzas(status):
        if fields.get("Status") != "install ok installed" or "Package" not in fields:
            continue
        name, version = fields["Package"], fields.get("Version", "")
        arch = fields.get("Architecture", "all")
        found.append(
            {
                "type": "library",
                "name": name,
                "version": version,
                "purl": f"pkg:deb/debian/{name}@{version}?arch={arch}",
            }
        )
    return found


def python_distribution(metadata: str) -> dict[str, Any] | None:
    """A distribution's METADATA file as a component (None without Name and Version)."""
    fields = next(_stanzas(metadata.split("\n\n", 1)[0]), {})
    name, version = fields.get("Name"), fields.get("Version")
    if not name or not version:
        return None
    purl_name = re.sub(r"[-_.]+", "-", name).lower()
    return {
        "type": "library",
        "name": name,
        "version": version,
        "purl": f"pkg:pypi/{purl_name}@{version}",
    }


def go_modules(version_output: str) -> tuple[str, list[dict[str, Any]]]:
    """``go version -m``'s text: the Go release, and the main module plus every dependency
    (a replaced module is listed as what was actually built in)."""
    lines = version_output.splitlines()
    go_release = lines[0].rsplit(" ", 1)[-1] if lines else ""
    # The standard library is compiled in too, at the toolchain's version.
    modules: list[dict[str, Any]] = [_go_component("stdlib", go_release.removeprefix("go"))]
    main_package, has_main_module = "", False
    for line in lines[1:]:
        parts = line.strip().split("\t")
        if parts[0] == "path" and len(parts) >= 2:
            main_package = parts[1]
        elif parts[0] in ("mod", "dep") and len(parts) >= 3:
            has_main_module = has_main_module or parts[0] == "mod"
            modules.append(_go_component(parts[1], parts[2]))
        elif parts[0] == "=>" and len(parts) >= 3 and len(modules) > 1:
            modules[-1] = _go_component(parts[1], parts[2])
    if main_package and not has_main_module:
        # A command of the Go distribution itself (cmd/go): versioned by the release.
        modules.insert(1, _go_component(main_package, go_release.removeprefix("go")))
    return go_release, modules


def _go_component(path: str, version: str) -> dict[str, Any]:
    return {
        "type": "library",
        "name": path,
        "version": version,
        "purl": f"pkg:golang/{path}@{version}",
    }


def _dpkg_owned(contents: Contents, outer: tarfile.TarFile) -> set[str]:
    """Paths dpkg lists as its packages', in both spellings of a merged /usr (bookworm's
    dpkg says ``/bin/bash``; the file is at ``/usr/bin/bash`` behind a ``/bin`` symlink)."""
    owned: set[str] = set()
    for path, entry in contents.files.items():
        if path.startswith("/var/lib/dpkg/info/") and path.endswith(".list"):
            for listed in _member_bytes(outer, entry).decode(errors="replace").splitlines():
                owned.add(listed)
                if listed.split("/", 2)[1:2] and listed.split("/", 2)[1] in _MERGED_USR:
                    owned.add("/usr" + listed)
    return owned


def _executable_kind(outer: tarfile.TarFile, entry: _File) -> tuple[str, str]:
    """(``go`` | ``elf`` | ``script`` | ``data``, sha256) of one file with an executable
    mode, read in chunks (``data``: the mode says executable, the content does not)."""
    sha = hashlib.sha256()
    kind, tail = "data", b""
    with _opened(outer, entry) as data:
        for block in _blocks(data):
            if not tail:
                kind = (
                    "elf"
                    if block.startswith(ELF_MAGIC)
                    else "script"
                    if block.startswith(b"#!")
                    else "data"
                )
            if kind == "elf" and GO_BUILDINFO_MAGIC in tail + block:
                kind = "go"
            tail = block[-len(GO_BUILDINFO_MAGIC) :]
            sha.update(block)
    return kind, sha.hexdigest()


def _go_version_m(outer: tarfile.TarFile, entry: _File, go: str, work: Path) -> str:
    target = work / "binary"
    with target.open("wb") as out, _opened(outer, entry) as data:
        for block in _blocks(data):
            out.write(block)
    try:
        return run(
            [go, "version", "-m", str(target)],
            what=f"go version -m of {entry.member.name}",
            timeout=GO_VERSION_TIMEOUT_S,
        )
    finally:
        target.unlink(missing_ok=True)


# --- the document -------------------------------------------------------------------


def _components(archive: Path, go: str | None, work: Path) -> tuple[Contents, list[dict[str, Any]]]:
    outer, manifest, config = _open_archive(archive)
    with outer:
        contents = _contents(outer, manifest, config)
        components: list[dict[str, Any]] = []
        status = contents.files.get("/var/lib/dpkg/status")
        if status is not None:
            components += debian_packages(_member_bytes(outer, status).decode(errors="replace"))
        owned = _dpkg_owned(contents, outer)
        for path, entry in sorted(contents.files.items()):
            member = entry.member
            if not member.isfile():
                continue
            if path.endswith(".dist-info/METADATA") and "/site-packages/" in path:
                found = python_distribution(_member_bytes(outer, entry).decode(errors="replace"))
                if found is not None:
                    components.append(found)
            elif _NESTED_ARCHIVE.match(path.lstrip("/")):
                nested = work / "nested.tar"
                nested.write_bytes(_member_bytes(outer, entry))
                inner, inner_components = _components(nested, go, work / "inner")
                nested.unlink()
                components.append(
                    {
                        "type": "container",
                        "name": inner.reference,
                        "description": f"image archive {path}",
                        "properties": [{"name": USER_PROPERTY, "value": inner.user}],
                        "components": inner_components,
                    }
                )
            elif _unpackaged_executable(path, member, owned):
                executable = _executable(outer, entry, path, go, work)
                if executable is not None:
                    components.append(executable)
    return contents, sorted(components, key=lambda c: (c["type"], c["name"], c.get("version", "")))


def _unpackaged_executable(path: str, member: tarfile.TarInfo, owned: set[str]) -> bool:
    """An executable, non-empty file no package manager accounts for (dpkg's own
    maintainer scripts and Python distributions' files are accounted for)."""
    return (
        bool(member.mode & 0o111)
        and member.size > 0
        and path not in owned
        and "/site-packages/" not in path
        and not path.startswith("/var/lib/dpkg/")
    )


def _executable(
    outer: tarfile.TarFile, entry: _File, path: str, go: str | None, work: Path
) -> dict[str, Any] | None:
    kind, digest = _executable_kind(outer, entry)
    if kind == "data":
        return None
    component: dict[str, Any] = {
        "type": "file" if kind == "script" else "application",
        "name": path,
        "hashes": [{"alg": "SHA-256", "content": digest}],
    }
    if kind == "go":
        if go is None:
            raise ImageError(f"{path} is a Go binary and Go is not installed to read its modules")
        release, modules = go_modules(_go_version_m(outer, entry, go, work))
        component["description"] = f"Go binary built with {release}"
        component["components"] = modules
    return component


def document(archive: Path, *, go: str | None) -> dict[str, Any]:
    """The CycloneDX 1.5 document for one image archive (``go``: the Go toolchain, needed
    only when the image holds Go binaries)."""
    with tempfile.TemporaryDirectory(prefix="ktp-sbom-") as scratch:
        work = Path(scratch)
        (work / "inner").mkdir()
        contents, components = _components(archive, go, work)
    return {
        "bomFormat": "CycloneDX",
        "specVersion": SPEC_VERSION,
        "version": 1,
        "metadata": {
            "component": {"type": "container", "name": contents.reference},
            "properties": [{"name": USER_PROPERTY, "value": contents.user}],
        },
        "components": components,
    }


def write(archive: Path, *, go: str | None) -> Path:
    """Write the SBOM of ``archive`` beside it (via a temporary name) and return its path."""
    target = sbom_path(archive)
    partial = target.with_suffix(f".{os.getpid()}.part")  # two writers never share it
    partial.write_text(json.dumps(document(archive, go=go), indent=1, sort_keys=True) + "\n")
    partial.rename(target)
    return target


def images_with_users(sbom: dict[str, Any]) -> list[tuple[str, str]]:
    """(reference, User) of the image and of every image archive inside it."""
    found: list[tuple[str, str]] = []

    def user_of(component: dict[str, Any]) -> str:
        properties = component.get("properties", [])
        return next((p["value"] for p in properties if p["name"] == USER_PROPERTY), "")

    metadata = sbom.get("metadata", {})
    found.append((metadata.get("component", {}).get("name", ""), user_of(metadata)))

    def walk(components: list[dict[str, Any]]) -> None:
        for component in components:
            if component["type"] == "container":
                found.append((component["name"], user_of(component)))
            walk(component.get("components", []))

    walk(sbom.get("components", []))
    return found


def summary(sbom: dict[str, Any]) -> dict[str, int]:
    """Counts over the whole tree: Debian packages, Python distributions, Go modules, and
    executables no package manager owns (``unpackaged``)."""
    counts = {"debian": 0, "pypi": 0, "golang": 0, "unpackaged": 0}
    prefixes = {"pkg:deb/": "debian", "pkg:pypi/": "pypi", "pkg:golang/": "golang"}

    def walk(components: list[dict[str, Any]]) -> None:
        for component in components:
            purl = str(component.get("purl", ""))
            kind = next((k for prefix, k in prefixes.items() if purl.startswith(prefix)), None)
            if kind is not None:
                counts[kind] += 1
            elif component["type"] in ("file", "application"):
                counts["unpackaged"] += 1
            walk(component.get("components", []))

    walk(sbom.get("components", []))
    return counts
