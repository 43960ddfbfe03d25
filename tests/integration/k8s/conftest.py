"""Fixtures of the k8s integration tests (helpers live in k8s_support.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.support.inner_pytest import InnerRun, run_inner_pytest


@pytest.fixture
def inner_pytest(tmp_path: Path) -> Any:
    """``run(source, *args, env=...) -> InnerRun``: a separate pytest process on ``source``."""

    def run(source: str, *args: str, env: dict[str, str | None] | None = None) -> InnerRun:
        return run_inner_pytest(tmp_path, source, *args, env=env)

    return run
