"""The runner's expected failures: a Ctrl-C message true to the phase it hit, and an
API error while collecting as one RunnerError line with the Job still deleted.

The cluster side is stubbed: these are the control-flow paths around a Ctrl-C and a
refused API call, which a real cluster cannot be made to produce on demand here.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from kubernetes import client as k8s_client
from kubernetes.client.exceptions import ApiException

from testing.runner import RunnerError
from testing.runner import __main__ as runner_cli
from testing.runner import image as runner_image
from testing.runner import run as runner_run
from testing.runner.job import RunnerSettings


def _interrupt(*_: Any, **__: Any) -> Any:
    raise KeyboardInterrupt


@pytest.fixture
def provider(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = SimpleNamespace(name="kind", runs_containers=True, kubeconfig_path=lambda: "kc")
    monkeypatch.setattr(runner_cli, "get_provider", lambda: fake)
    monkeypatch.setattr(runner_cli, "api_client", lambda path: k8s_client.ApiClient())


@pytest.mark.usefixtures("provider")
def test_ctrl_c_during_the_image_build_says_no_job_was_created(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(runner_image, "build_and_load", _interrupt)
    monkeypatch.setattr(runner_run, "run", lambda *a, **k: pytest.fail("no Job may be run"))
    assert runner_cli.main(["run"]) == 130
    assert capsys.readouterr().err == (
        "interrupted during the image build: no runner Job was created\n"
    )


@pytest.mark.usefixtures("provider")
def test_ctrl_c_during_the_run_says_the_job_was_deleted(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(runner_image, "build_and_load", lambda provider: "img:1")
    monkeypatch.setattr(runner_run, "run", _interrupt)
    assert runner_cli.main(["run"]) == 130
    assert capsys.readouterr().err == "interrupted: the runner Job was deleted\n"


class _Core:
    def __init__(self, api: Any, *, list_fails: bool) -> None:
        self.list_fails = list_fails

    def list_namespaced_pod(self, namespace: str, label_selector: str) -> Any:
        if self.list_fails:
            raise ApiException(status=403, reason="Forbidden")
        pod = k8s_client.V1Pod(
            metadata=k8s_client.V1ObjectMeta(
                name="runner-0-abc", labels={runner_run.INDEX_LABEL: "0"}
            ),
            status=k8s_client.V1PodStatus(phase="Succeeded"),
        )
        return k8s_client.V1PodList(items=[pod])

    def read_namespaced_pod_log(self, name: str, namespace: str) -> str:
        raise ApiException(status=500, reason="Internal Server Error")


@pytest.mark.parametrize(
    ("list_fails", "message"),
    [
        (True, "listing the pods of Job ns/{job} failed: 403 Forbidden"),
        (
            False,
            "reading the log of shard 0's pod ns/runner-0-abc failed: 500 Internal Server Error",
        ),
    ],
)
def test_api_error_while_collecting_is_a_runner_error_and_the_job_is_deleted(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, list_fails: bool, message: str
) -> None:
    deleted: list[str] = []
    monkeypatch.setattr(runner_run, "apply_objects", lambda api, objects: [])
    monkeypatch.setattr(runner_run, "wait_started", lambda *a, **k: None)
    monkeypatch.setattr(runner_run, "wait_for_job", lambda *a, **k: None)
    monkeypatch.setattr(runner_run, "delete_job", lambda api, job, ns: deleted.append(job))
    monkeypatch.setattr(
        runner_run.k8s_client, "CoreV1Api", lambda api: _Core(api, list_fails=list_fails)
    )
    settings = RunnerSettings.from_env({"TEST_SHARDS": "1"})
    with pytest.raises(RunnerError) as info:
        runner_run.run(k8s_client.ApiClient(), settings, namespace="ns", out_dir=tmp_path)
    assert len(deleted) == 2  # before the run (leftovers) and in the finally
    assert str(info.value) == message.format(job=deleted[0])
