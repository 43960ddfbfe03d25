"""The images this machine built: who they run as, and what is in them (their SBOMs).

Scanned are the archives :mod:`testing.images` keeps in its cache for the current
inputs (the platform's images and the kind node image with the images inside it).
Each must run as a non-root user unless :mod:`testing.images.users` gives the reason
it cannot, and each has a CycloneDX SBOM (:mod:`testing.images.sbom`), copied to the
reports folder. An image not built on this machine is named, not counted.

What this scan does *not* do, said in every result: no offline advisory source for
Debian packages or Go modules exists here, so the images' OS packages and Go modules
are NOT checked for vulnerabilities, and the images are never reported as clean. Their
Python distributions are the locked ones pip-audit audits.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from testing.images import KEYS, kind_node, reference, sbom, users
from testing.images.build import archive_path
from testing.images.errors import ImageError
from testing.images.recipes import RECIPES
from testing.security.report import Finding, ScanError, ScanResult

NOT_SCANNED = (
    "OS packages and Go modules NOT scanned for vulnerabilities: no offline advisory "
    "source for Debian packages or Go modules exists here"
)


PINNED_NOTE = (
    "the pinned images (TEST_IMAGE_SOURCE=pinned) are upstream's, by digest in "
    "k8s/versions.toml: their users and SBOMs are upstream's and not checked here"
)


def expected_archives() -> tuple[dict[str, Path], dict[str, str]]:
    """Reference -> cache path of every image the built source uses, built or not; and
    image -> why its reference cannot even be computed on this machine (a build tool
    such as busybox-static is missing, so nothing of it can have been built here)."""
    names: dict[str, str] = {}
    unavailable: dict[str, str] = {}
    for key in KEYS:
        try:
            names[reference(key, "built", environ={})] = RECIPES[key].name
        except ImageError as exc:
            unavailable[key] = str(exc)
    try:
        names[kind_node.node_reference()] = kind_node.NODE_NAME
    except ImageError as exc:
        unavailable[kind_node.NODE_NAME] = str(exc)
    return {ref: archive_path(name, ref) for ref, name in names.items()}, unavailable


def user_findings(document: dict[str, Any], where: Path) -> list[Finding]:
    """A finding for every image in the SBOM (nested ones too) that runs as root without
    a reason in ``users.ROOT_BY_NECESSITY``."""
    return [
        Finding(
            rule="image-runs-as-root",
            message=f"{ref} runs as root (User {user!r}) and testing/images/users.py gives "
            "no reason: set a non-root user",
            path=str(where),
        )
        for ref, user in sbom.images_with_users(document)
        if users.is_root(user) and users.image_name(ref) not in users.ROOT_BY_NECESSITY
    ]


def scan_archives(
    archives: dict[str, Path], reports: Path, unavailable: dict[str, str] | None = None
) -> ScanResult:
    out = reports / "images"
    out.mkdir(parents=True, exist_ok=True)
    result = ScanResult("images", checked=0, unit=f"built images ({NOT_SCANNED})")
    totals = {"debian": 0, "pypi": 0, "golang": 0, "unpackaged": 0}
    missing = []
    go = shutil.which("go")
    for ref, archive in sorted(archives.items()):
        if not archive.is_file():
            missing.append(ref)
            continue
        path = sbom.sbom_path(archive)
        if not path.is_file():  # built before SBOMs were written
            try:
                sbom.write(archive, go=go)
            except ImageError as exc:
                raise ScanError(f"the SBOM of {ref} could not be written: {exc}") from None
        document = json.loads(path.read_text(encoding="utf-8"))
        shutil.copyfile(path, out / path.name)
        result.reports.append(out / path.name)
        result.findings += user_findings(document, path)
        for kind, count in sbom.summary(document).items():
            totals[kind] += count
        result.checked += 1
    result.notes.append(
        f"SBOMs in {out}: {totals['debian']} Debian packages, {totals['golang']} Go modules, "
        f"{totals['pypi']} Python distributions (the locked ones pip-audit audits), "
        f"{totals['unpackaged']} executables no package manager owns"
    )
    if missing:
        result.notes.append(
            f"not built on this machine, so not scanned ({len(missing)}): {', '.join(missing)}"
        )
    for name, why in sorted((unavailable or {}).items()):
        result.notes.append(f"{name} cannot be built on this machine, so not scanned: {why}")
    result.notes += [NOT_SCANNED, PINNED_NOTE]
    return result


def scan(root: Path, reports: Path) -> ScanResult:
    """Scan the cached archives of the images the built source uses."""
    del root  # the images come from the cache, for the current inputs of the recipes
    archives, unavailable = expected_archives()
    return scan_archives(archives, reports, unavailable)
