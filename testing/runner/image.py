"""Make the test-runner image available to the cluster: built here or docker-built.

The image is owned by :mod:`testing.images` (key ``tests``): an archive built from the
locked ``test`` group, this package, ``tests/`` and ``demo/`` (the e2e suite imports
it), or, for the pinned source, ``docker build`` of testing/runner/Dockerfile.
"""

from __future__ import annotations

from testing import images
from testing.cluster import ClusterProvider
from testing.platform.manifests import image_source
from testing.runner import RunnerError


def build_and_load(provider: ClusterProvider) -> str:
    """Build the image if needed, load it into ``provider``'s nodes, return its reference."""
    choice = image_source()
    print(f"images: {choice.source} ({choice.reason})", flush=True)
    try:
        archive = images.ensure(["tests"], choice.source)["tests"]
        reference = images.reference("tests", choice.source)
    except images.ImageError as exc:
        raise RunnerError(str(exc)) from None
    if archive is not None:
        provider.load_image_archive(archive)
    else:
        provider.load_image(reference)
    return reference
