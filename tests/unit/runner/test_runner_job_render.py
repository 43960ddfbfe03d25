"""The test-runner Job rendered for N shards, from the real manifest and the real pin file."""

from __future__ import annotations

import pytest

from testing import pins
from testing.runner import RunnerError
from testing.runner.job import JOB_TEMPLATE, RunnerSettings, load_template, render_job

IMAGES = {"ktp-tests:dev": "ktp-tests:dev"}


def _env(job: dict[str, object]) -> dict[str, object]:
    container = job["spec"]["template"]["spec"]["containers"][0]  # type: ignore[index]
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container["env"]}


@pytest.mark.parametrize("shards", [1, 3, 8])
def test_job_runs_n_shards_in_parallel(shards: int) -> None:
    job = render_job(RunnerSettings(shards=shards, startup_timeout=120, run_timeout=900))
    spec = job["spec"]
    assert spec["completionMode"] == "Indexed"
    assert (spec["completions"], spec["parallelism"]) == (shards, shards)
    assert _env(job)["TEST_SHARDS"] == str(shards)
    # The server-side deadline is the sum of the two client-side clocks.
    assert spec["activeDeadlineSeconds"] == 1020
    assert _env(job)["TEST_RUNNER_RUN_TIMEOUT"] == "900"


def test_rendering_leaves_the_template_untouched() -> None:
    before = load_template()
    render_job(RunnerSettings(shards=5))
    assert load_template() == before
    assert before["spec"]["completions"] == 1


def test_image_is_the_local_runner_image_and_pods_use_the_read_only_account() -> None:
    job = render_job(RunnerSettings(shards=2), images=IMAGES)
    pod = job["spec"]["template"]["spec"]
    assert pod["containers"][0]["image"] == "ktp-tests:dev"
    assert pod["containers"][0]["imagePullPolicy"] == "Never"
    assert pod["serviceAccountName"] == "test-runner"
    assert job["spec"]["template"]["metadata"]["labels"]["ktp.dev/role"] == "test-runner"
    # Credentials reach the pods only through Secret references.
    assert _env(job)["POSTGRES_PASSWORD"] == {
        "secretKeyRef": {"name": "postgres-credentials", "key": "password"}
    }


def test_env_overrides_reach_the_job() -> None:
    settings = RunnerSettings.from_env(
        {
            "TEST_SHARDS": "4",
            "TEST_RUNNER_STARTUP_TIMEOUT": "30",
            "TEST_RUNNER_RUN_TIMEOUT": "60",
            "TEST_RUNNER_SUITE": "tests/e2e/test_demo.py",
        }
    )
    job = render_job(settings)
    assert job["spec"]["completions"] == 4
    assert job["spec"]["activeDeadlineSeconds"] == 90
    assert _env(job)["TEST_RUNNER_SUITE"] == "tests/e2e/test_demo.py"


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"TEST_SHARDS": "0"}, "positive integer"),
        ({"TEST_SHARDS": "two"}, "not a positive integer"),
        ({"TEST_RUNNER_RUN_TIMEOUT": "soon"}, "is not a number"),
        ({"TEST_RUNNER_STARTUP_TIMEOUT": "-5"}, "must be positive"),
    ],
)
def test_bad_settings_fail_with_one_line(environ: dict[str, str], message: str) -> None:
    with pytest.raises(RunnerError, match=message):
        RunnerSettings.from_env(environ)


def test_a_template_that_is_not_indexed_is_refused(tmp_path: pytest.TempPathFactory) -> None:
    text = JOB_TEMPLATE.read_text().replace("completionMode: Indexed", "completionMode: NonIndexed")
    planted = tmp_path / "job.yaml"  # type: ignore[operator]
    planted.write_text(text)
    with pytest.raises(RunnerError, match="must be an Indexed Job"):
        render_job(RunnerSettings(shards=2), template=planted)


def test_python_base_image_is_pinned_by_digest() -> None:
    assert "@sha256:" in pins.pin("images", "python")
