"""Render ``k8s/jobs/test-runner.yaml`` for N shards.

The manifest holds everything that does not vary; this fills in the shard count
(completions = parallelism = N, and ``TEST_SHARDS`` for the pods), the suite, the
server-side deadline (startup + run timeout, a backstop for the client-side waits)
and the pinned/locally built images.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from testing import pins
from testing.platform.manifests import image_map, render
from testing.runner import RunnerError

JOB_TEMPLATE = pins.REPO_ROOT / "k8s" / "jobs" / "test-runner.yaml"
SHARDS_ENV = "TEST_SHARDS"


@dataclass(frozen=True)
class RunnerSettings:
    shards: int = 1
    #: Seconds for every shard's pod to be scheduled and started (image present, ...).
    startup_timeout: float = 180.0
    #: Seconds for the suite itself, once the pods run.
    run_timeout: float = 1800.0
    suite: str = "tests/e2e"

    def __post_init__(self) -> None:
        if self.shards < 1:
            raise RunnerError(f"{SHARDS_ENV} must be a positive integer, got {self.shards}")
        if self.startup_timeout <= 0 or self.run_timeout <= 0:
            raise RunnerError("startup and run timeouts must be positive")

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> RunnerSettings:
        def number(name: str, default: float) -> float:
            raw = environ.get(name)
            try:
                return float(raw) if raw else default
            except ValueError:
                raise RunnerError(f"{name}={raw!r} is not a number") from None

        shards_raw = environ.get(SHARDS_ENV) or "1"
        if not shards_raw.isdigit():
            raise RunnerError(f"{SHARDS_ENV}={shards_raw!r} is not a positive integer")
        return cls(
            shards=int(shards_raw),
            startup_timeout=number("TEST_RUNNER_STARTUP_TIMEOUT", cls.startup_timeout),
            run_timeout=number("TEST_RUNNER_RUN_TIMEOUT", cls.run_timeout),
            suite=environ.get("TEST_RUNNER_SUITE") or cls.suite,
        )


def load_template(path: Path = JOB_TEMPLATE) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise RunnerError(f"cannot read {path}: {exc}") from None
    if not isinstance(data, dict) or data.get("kind") != "Job":
        raise RunnerError(f"{path} does not hold one Job")
    return data


def _set_env(container: dict[str, Any], name: str, value: str) -> None:
    env: list[dict[str, Any]] = container.setdefault("env", [])
    for entry in env:
        if entry.get("name") == name:
            entry.clear()
            entry.update({"name": name, "value": value})
            return
    env.append({"name": name, "value": value})


def render_job(
    settings: RunnerSettings,
    *,
    template: Path = JOB_TEMPLATE,
    images: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The Job for ``settings.shards`` shards, images resolved."""
    job = render([load_template(template)], image_map() if images is None else images)[0]
    spec = job["spec"]
    if spec.get("completionMode") != "Indexed":
        raise RunnerError(f"{template}: the test runner must be an Indexed Job")
    spec["completions"] = settings.shards
    spec["parallelism"] = settings.shards
    spec["activeDeadlineSeconds"] = int(settings.startup_timeout + settings.run_timeout)
    for container in spec["template"]["spec"]["containers"]:
        _set_env(container, SHARDS_ENV, str(settings.shards))
        _set_env(container, "TEST_RUNNER_SUITE", settings.suite)
        _set_env(container, "TEST_RUNNER_RUN_TIMEOUT", str(int(settings.run_timeout)))
    return job
