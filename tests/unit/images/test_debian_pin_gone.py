"""A pinned Debian version that left the archive is one line naming the pin and the fix.

Debian's security archive keeps only the newest build of a package, so an exact pin
(chromium, say) stops resolving the day an update lands. The output is apt's own:
``apt-get -s`` (a simulation, nothing is installed) asked for a version that no
archive has, the same request mmdebstrap makes inside its chroot.
"""

from __future__ import annotations

import shutil

import pytest

from testing.images.errors import ImageError
from testing.images.recipes import run


def _exe(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise FileNotFoundError(f"{name} is needed on PATH (Debian or Ubuntu)")
    return found


def test_a_version_apt_cannot_find_names_the_pin_and_where_to_change_it() -> None:
    with pytest.raises(ImageError) as caught:
        run([_exe("apt-get"), "-s", "install", "ca-certificates=0.0-ktp-gone"], what="mmdebstrap x")
    assert str(caught.value) == (
        "mmdebstrap x failed: the Debian archive no longer has ca-certificates=0.0-ktp-gone; "
        "set the version it has now (`apt-cache policy <package>` after `apt-get update`) in "
        "k8s/versions.toml [debian]"
    )


def test_other_failures_keep_the_output_tail() -> None:
    with pytest.raises(ImageError, match=r"^step failed \(exit 1\): "):
        run([_exe("false")], what="step")
