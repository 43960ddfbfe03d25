"""The demo image's inputs stay consistent with the one pin file and the one lock file."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


def _locked() -> dict[str, str]:
    lock = tomllib.loads((ROOT / "uv.lock").read_text(encoding="utf-8"))
    return {p["name"]: p["version"] for p in lock["package"] if "version" in p}


def test_image_requirements_match_uv_lock() -> None:
    """demo/requirements.txt pins exactly uv.lock's versions, with hashes, for the demo group."""
    text = (ROOT / "demo" / "requirements.txt").read_text(encoding="utf-8")
    pinned = dict(re.findall(r"^([A-Za-z0-9_.-]+)==([^ ;\\]+)", text, flags=re.MULTILINE))
    locked = _locked()
    assert {"pyiceberg", "pyarrow", "sqlalchemy", "psycopg2-binary", "pydantic-settings"} <= set(
        pinned
    )
    drift = {n: (v, locked.get(n)) for n, v in pinned.items() if locked.get(n) != v}
    assert drift == {}, (
        "regenerate: uv export --locked --no-default-groups --group demo --no-emit-project "
        "--format requirements-txt -o demo/requirements.txt"
    )
    blocks = re.split(r"\n(?=[A-Za-z0-9])", text.split("\n", 2)[2])
    unhashed = [b.split()[0] for b in blocks if "==" in b and "--hash=sha256:" not in b]
    assert unhashed == [], "pip --require-hashes needs a hash for every requirement"


def test_dockerfile_takes_its_base_from_the_pin_file() -> None:
    dockerfile = (ROOT / "demo" / "Dockerfile").read_text(encoding="utf-8")
    froms = [line for line in dockerfile.splitlines() if line.startswith("FROM ")]
    assert froms == ["FROM ${PYTHON_IMAGE}"]
    assert "@sha256:" not in dockerfile
    assert "ARG PYTHON_IMAGE\n" in dockerfile
    pins = tomllib.loads((ROOT / "k8s" / "versions.toml").read_text(encoding="utf-8"))
    assert re.fullmatch(
        r"docker\.io/library/python:3\.11-slim\S*@sha256:[0-9a-f]{64}", pins["images"]["python"]
    )
