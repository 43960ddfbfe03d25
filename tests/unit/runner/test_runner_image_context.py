"""The test-runner image's build context: only what the image needs, requirements hashed.

Building the image needs a base image from a registry, which this machine cannot
reach; the context it is built from is real and checked here (``uv export`` runs for
real against uv.lock).
"""

from __future__ import annotations

from pathlib import Path

from testing.runner.image import DOCKERFILE, prepare_context


def test_context_holds_the_suite_and_hashed_locked_requirements(tmp_path: Path) -> None:
    context = prepare_context(tmp_path)
    names = sorted(p.name for p in context.iterdir())
    assert names == [
        "Dockerfile",
        "README.md",
        "pyproject.toml",
        "requirements.txt",
        "testing",
        "tests",
    ]
    requirements = (context / "requirements.txt").read_text()
    assert "pytest==" in requirements
    assert "kubernetes==" in requirements
    assert "--hash=sha256:" in requirements
    assert "-e ." not in requirements  # the project is installed from the copied sources
    assert (context / "testing" / "runner" / "shard.py").is_file()
    assert not list(context.rglob("__pycache__"))
    assert (context / "Dockerfile").read_text() == DOCKERFILE.read_text()


def test_dockerfile_takes_its_base_from_the_pin_file_and_runs_as_non_root() -> None:
    text = DOCKERFILE.read_text()
    assert "ARG PYTHON_IMAGE\nFROM ${PYTHON_IMAGE}\n" in text
    assert "@sha256:" not in text  # the digest lives in k8s/versions.toml only
    assert "--require-hashes" in text
    assert "USER 10001:10001" in text
