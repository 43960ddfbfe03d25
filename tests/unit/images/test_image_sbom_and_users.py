"""What a built image holds (its SBOM, read back from the archive) and who it runs as.

The archives are written by the project's own writer; the Go binary inside one is the
real ``go`` toolchain binary, whose build information the real ``go version -m`` reads.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from testing.images import sbom, users
from testing.images.archive import ImageConfig, LayerWriter, write_archive
from testing.images.errors import ImageError

DPKG_STATUS = """\
Package: bash
Status: install ok installed
Architecture: amd64
Version: 5.2.15-2+b9

Package: removed-tool
Status: deinstall ok config-files
Architecture: amd64
Version: 1.0-1
"""
METADATA = "Metadata-Version: 2.1\nName: Demo_Lib\nVersion: 1.2.3\n\nLong description.\n"


def _go() -> str:
    found = shutil.which("go")
    assert found is not None, "Go is needed to read Go binaries' modules (README: tiers)"
    return found


def _image(tmp_path: Path, ref: str, *, user: str, nested: Path | None = None) -> Path:
    work = tmp_path / ref.replace("/", "_").replace(":", "_")
    work.mkdir()
    layer = LayerWriter(work / "layer.tar")
    layer.file("/var/lib/dpkg/status", DPKG_STATUS.encode())
    layer.file("/var/lib/dpkg/info/bash.list", b"/.\n/bin\n/bin/bash\n")
    layer.file("/var/lib/dpkg/info/bash.postinst", b"#!/bin/sh\nexit 0\n", 0o755)
    layer.file("/usr/bin/bash", b"\x7fELF owned by dpkg as /bin/bash (merged /usr)", 0o755)
    layer.file("/usr/local/bin/entry.sh", b"#!/bin/sh\nexec app\n", 0o755)
    layer.file("/etc/hostname", b"not a program\n", 0o755)
    layer.file("/usr/local/bin/go", Path(_go()).read_bytes(), 0o755)
    layer.file("/app/site-packages/demo_lib-1.2.3.dist-info/METADATA", METADATA.encode())
    if nested is not None:
        layer.file("/kind/images/inner.tar", nested.read_bytes())
    out = work / "image.tar"
    write_archive(out, ref, [layer.close()], ImageConfig(user=user))
    return out


@pytest.fixture
def inner(tmp_path: Path) -> Path:
    work = tmp_path / "inner"
    work.mkdir()
    layer = LayerWriter(work / "layer.tar")
    layer.file("/pause", b"\x7fELF a static C binary", 0o755)
    out = work / "inner.tar"
    write_archive(out, "ktp.local/kubernetes/etcd:v3", [layer.close()], ImageConfig(user=""))
    return out


def _by_name(components: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {c["name"]: c for c in components}


@pytest.mark.requirement("IMG-004")
def test_the_sbom_lists_what_the_archive_holds(tmp_path: Path, inner: Path) -> None:
    archive = _image(tmp_path, "ktp.local/demo:abc", user="10001:10001", nested=inner)
    document = sbom.document(archive, go=_go())
    components = _by_name(document["components"])
    assert components["bash"]["purl"] == "pkg:deb/debian/bash@5.2.15-2+b9?arch=amd64"
    assert "removed-tool" not in components  # not installed
    assert components["Demo_Lib"]["purl"] == "pkg:pypi/demo-lib@1.2.3"
    go = components["/usr/local/bin/go"]
    assert go["type"] == "application"
    modules = _by_name(go["components"])
    release = go["description"].rsplit(" go", 1)[1]
    # The go command is part of the Go distribution: versioned by its release.
    assert modules["cmd/go"]["purl"] == f"pkg:golang/cmd/go@{release}"
    assert modules["stdlib"]["version"] == release
    script = components["/usr/local/bin/entry.sh"]
    assert script["type"] == "file"
    assert len(script["hashes"][0]["content"]) == 64
    # dpkg's files (in either spelling of a merged /usr) and non-programs are not "unpackaged".
    for accounted in ("/usr/bin/bash", "/var/lib/dpkg/info/bash.postinst", "/etc/hostname"):
        assert accounted not in components
    nested = components["ktp.local/kubernetes/etcd:v3"]
    assert nested["type"] == "container"
    assert [c["name"] for c in nested["components"]] == ["/pause"]
    assert sbom.images_with_users(document) == [
        ("ktp.local/demo:abc", "10001:10001"),
        ("ktp.local/kubernetes/etcd:v3", ""),
    ]
    assert sbom.summary(document) == {
        "debian": 1,
        "pypi": 1,
        "golang": len(modules),
        "unpackaged": 3,  # go, entry.sh, and /pause inside the nested image
    }


@pytest.mark.requirement("IMG-004")
def test_the_sbom_is_valid_cyclonedx_and_the_same_bytes_each_time(tmp_path: Path) -> None:
    # The security group's library (the traceability session collects without it).
    from cyclonedx.schema import SchemaVersion  # noqa: PLC0415
    from cyclonedx.validation.json import JsonStrictValidator  # noqa: PLC0415

    archive = _image(tmp_path, "ktp.local/demo:abc", user="10001:10001")
    first = sbom.write(archive, go=_go()).read_text()
    assert sbom.sbom_path(archive) == archive.with_name("image.cdx.json")
    assert JsonStrictValidator(SchemaVersion.V1_5).validate_str(first) is None
    assert sbom.write(archive, go=_go()).read_text() == first
    assert json.loads(first)["specVersion"] == "1.5"


def test_a_go_binary_without_go_installed_is_one_error(tmp_path: Path) -> None:
    archive = _image(tmp_path, "ktp.local/demo:abc", user="10001:10001")
    with pytest.raises(
        ImageError, match=r"/usr/local/bin/go is a Go binary and Go is not installed"
    ):
        sbom.document(archive, go=None)


def test_go_version_output_with_a_replaced_module() -> None:
    release, modules = sbom.go_modules(
        "/x: go1.26.8\n\tpath\texample.com/app\n\tmod\texample.com/app\tv1.0.0\th1:a\n"
        "\tdep\texample.com/lib\tv1.1.0\th1:b\n\t=>\texample.com/fork\tv1.1.1\th1:c\n"
        "\tbuild\t-trimpath=true\n"
    )
    assert release == "go1.26.8"
    assert [(m["name"], m["version"]) for m in modules] == [
        ("stdlib", "1.26.8"),
        ("example.com/app", "v1.0.0"),
        ("example.com/fork", "v1.1.1"),
    ]


@pytest.mark.requirement("IMG-005")
def test_an_image_that_would_run_as_root_without_a_reason_is_refused(tmp_path: Path) -> None:
    layer = LayerWriter(tmp_path / "layer.tar")
    layer.file("/app", b"#!/bin/sh\n", 0o755)
    built = layer.close()
    with pytest.raises(ImageError) as caught:
        write_archive(tmp_path / "a.tar", "ktp.local/minio:abc", [built], ImageConfig())
    message = str(caught.value)
    assert message.startswith("image ktp.local/minio:abc would run as root (User '')")
    assert "ROOT_BY_NECESSITY" in message
    # The twin: the same image as nonroot is written; a root image with a reason is too.
    write_archive(
        tmp_path / "b.tar", "ktp.local/minio:abc", [built], ImageConfig(user=users.NONROOT)
    )
    write_archive(
        tmp_path / "c.tar", "ktp.local/kubernetes/etcd:v3", [built], ImageConfig(user="0")
    )
    assert (tmp_path / "b.tar").is_file()
    assert (tmp_path / "c.tar").is_file()


@pytest.mark.parametrize(
    ("user", "root"),
    [
        ("", True),
        ("0", True),
        ("root", True),
        ("0:0", True),
        ("65532:65532", False),
        ("999", False),
    ],
)
def test_which_users_are_root(user: str, root: bool) -> None:
    assert users.is_root(user) is root


def test_every_root_image_has_a_reason_that_says_something() -> None:
    assert all(len(reason.split()) >= 8 for reason in users.ROOT_BY_NECESSITY.values())
    assert users.image_name("ktp.local/kubernetes/kube-apiserver:v1.36.1") == (
        "kubernetes/kube-apiserver"
    )
    # Only images built here can be exempt: another registry's etcd keeps its host.
    assert users.image_name("registry.k8s.io/etcd:3.6@sha256:ab") == "registry.k8s.io/etcd"
    with pytest.raises(ImageError, match="would run as root"):
        users.check("registry.example/kubernetes/etcd:3.6", "")
