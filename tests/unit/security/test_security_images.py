"""The images scan over real archives written by the project's writer: a root image
without a reason fails it, its non-root twin passes, and no result calls the images'
OS packages clean."""

from __future__ import annotations

from pathlib import Path

import pytest

import noxfile
from testing.images import sbom, users
from testing.images.archive import ImageConfig, LayerWriter, write_archive
from testing.security import __main__ as security_cli
from testing.security import images_scan


def _archive(tmp_path: Path, ref: str, user: str, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An archive as the cache holds it; a root one is written as an image built before
    the user rule would have been (the rule is switched off for the write)."""
    work = tmp_path / user.replace(":", "_") / "work"
    work.mkdir(parents=True)
    layer = LayerWriter(work / "layer.tar")
    layer.file("/usr/bin/app", b"#!/bin/sh\nexec sleep infinity\n", 0o755)
    out = work.parent / "minio-abc.tar"
    with monkeypatch.context() as patched:
        patched.setattr(users, "check", lambda reference, user: None)
        write_archive(out, ref, [layer.close()], ImageConfig(user=user))
    return out


@pytest.mark.requirement("SEC-006")
def test_a_root_image_without_a_reason_fails_the_scan(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    archive = _archive(tmp_path, "ktp.local/minio:abc", "", monkeypatch)
    result = images_scan.scan_archives({"ktp.local/minio:abc": archive}, tmp_path / "reports")
    assert [f.rule for f in result.findings] == ["image-runs-as-root"]
    assert result.findings[0].message.startswith("ktp.local/minio:abc runs as root (User '')")
    assert result.failed
    assert (tmp_path / "reports" / "images" / "minio-abc.cdx.json").is_file()


@pytest.mark.requirement("SEC-006")
def test_a_nonroot_image_passes_but_is_never_called_clean(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    archive = _archive(tmp_path, "ktp.local/minio:abc", users.NONROOT, monkeypatch)
    absent = tmp_path / "never-built.tar"
    result = images_scan.scan_archives(
        {"ktp.local/minio:abc": archive, "ktp.local/mc:def": absent},
        tmp_path / "reports",
        {"local-path-helper": "busybox-static is not installed"},
    )
    assert result.findings == []
    assert result.checked == 1
    summary = result.summary()
    assert summary.startswith("security images: no findings in 1 built images")
    assert "NOT scanned for vulnerabilities" in summary
    assert "not built on this machine, so not scanned (1): ktp.local/mc:def" in result.notes
    assert any(n.startswith("local-path-helper cannot be built") for n in result.notes)
    assert sbom.sbom_path(archive).is_file()  # written for an archive that had none


def test_the_security_session_runs_every_registered_scanner() -> None:
    sessions = [param.args[0] for param in noxfile.security.parametrize]  # type: ignore[attr-defined]
    assert sessions == list(security_cli.SCANNERS)
