"""Build the test-runner image from a minimal context and load it into the cluster.

The context holds only what the image needs (the package, the tests, the locked
requirements with hashes), so a developer's virtualenvs and caches are never sent to
the Docker daemon, and the image changes only when those inputs do.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

from testing import pins
from testing.cluster import ClusterProvider
from testing.platform.manifests import local_image
from testing.runner import RunnerError

DOCKERFILE = Path(__file__).with_name("Dockerfile")
EXPORT_TIMEOUT_S = 120
BUILD_TIMEOUT_S = 1800
GROUPS = ("test",)


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise RunnerError(f"{name} is not on PATH: it is needed to build the test-runner image")
    return path


def _tail(text: str) -> str:
    return (text.strip().splitlines() or ["(no output)"])[-1]


def _run(argv: list[str], *, timeout: float, what: str, cwd: Path | None = None) -> str:
    """Run ``argv``; a failure or an overrun is one RunnerError line, never a traceback."""
    try:
        done = subprocess.run(
            argv, cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired:
        raise RunnerError(f"{what} ran longer than {timeout:g}s and was stopped") from None
    if done.returncode != 0:
        raise RunnerError(f"{what} failed: {_tail(done.stderr)}")
    return done.stdout


def prepare_context(destination: Path, repo_root: Path = pins.REPO_ROOT) -> Path:
    """Fill ``destination`` with the build context; return it."""
    _run(
        [
            _tool("uv"),
            "export",
            "--locked",
            "--no-default-groups",
            "--no-emit-project",
            *(f"--group={group}" for group in GROUPS),
            "--format=requirements-txt",
            f"--output-file={destination / 'requirements.txt'}",
        ],
        cwd=repo_root,
        timeout=EXPORT_TIMEOUT_S,
        what="uv export of the locked requirements",
    )
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(repo_root / name, destination / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", ".pytest_cache")
    shutil.copytree(repo_root / "testing", destination / "testing", ignore=ignore)
    shutil.copytree(repo_root / "tests", destination / "tests", ignore=ignore)
    shutil.copy2(DOCKERFILE, destination / "Dockerfile")
    return destination


def build_and_load(provider: ClusterProvider) -> str:
    """Build the image, load it into ``provider``'s nodes, return its reference."""
    image = local_image("ktp-tests:dev")
    with tempfile.TemporaryDirectory(prefix="ktp-test-image-") as scratch:
        context = prepare_context(Path(scratch))
        _run(
            [
                _tool("docker"),
                "build",
                "--tag",
                image,
                "--build-arg",
                f"PYTHON_IMAGE={pins.pin('images', 'python')}",
                str(context),
            ],
            timeout=BUILD_TIMEOUT_S,
            what=f"docker build of {image}",
        )
    provider.load_image(image)
    return image
