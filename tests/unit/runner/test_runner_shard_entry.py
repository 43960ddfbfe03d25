"""The pod entry point, run for real on a generated suite: it emits a decodable report."""

from __future__ import annotations

import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

from testing.runner.transport import decode


def test_shard_entry_prints_its_report_and_exits_zero_on_failed_tests(tmp_path: Path) -> None:
    (tmp_path / "test_two.py").write_text(
        "import os\n\n"
        "def test_a():\n    assert os.sep == '/'\n\n"
        "def test_b():\n    assert os.sep == '\\\\'\n\n"
        "def test_c():\n    assert os.sep * 2 == '//'\n"
    )
    env = {
        "JOB_COMPLETION_INDEX": "1",
        "TEST_SHARDS": "2",
        "TEST_RUNNER_SUITE": str(tmp_path),
        "TEST_RUNNER_RUN_TIMEOUT": "120",
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
    }
    done = subprocess.run(
        [sys.executable, "-m", "testing.runner", "shard"],
        capture_output=True,
        text=True,
        timeout=180,
        env=env,
        cwd=tmp_path,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    exit_code, report = decode(done.stdout, shard=1)
    assert exit_code == 1  # shard 1 of 2 holds test_b (sorted: a, b, c -> b)
    root = ET.fromstring(report)  # noqa: S314 - our own pytest run
    cases = [c.get("name") for c in root.iter("testcase")]
    assert cases == ["test_b"]


def test_shard_entry_deselects_tests_that_need_the_hosts_kubeconfig(tmp_path: Path) -> None:
    (tmp_path / "test_mixed.py").write_text(
        "import os\nimport pytest\n\n"
        "def test_in_cluster():\n    assert os.sep == '/'\n\n"
        "@pytest.mark.from_host\n"
        "def test_creates_pods():\n    assert os.sep == '/'\n"
    )
    env = {
        "JOB_COMPLETION_INDEX": "0",
        "TEST_SHARDS": "1",
        "TEST_RUNNER_SUITE": str(tmp_path),
        "TEST_RUNNER_RUN_TIMEOUT": "120",
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
    }
    done = subprocess.run(
        [sys.executable, "-m", "testing.runner", "shard"],
        capture_output=True,
        text=True,
        timeout=180,
        env=env,
        cwd=tmp_path,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    exit_code, report = decode(done.stdout, shard=0)
    assert exit_code == 0
    root = ET.fromstring(report)  # noqa: S314 - our own pytest run
    assert [c.get("name") for c in root.iter("testcase")] == ["test_in_cluster"]


def test_shard_entry_fails_when_pytest_is_cut_off_before_its_report(tmp_path: Path) -> None:
    # A test that blocks on an event nobody sets: the run timeout (2 s) ends pytest,
    # which then never writes its JUnit file.
    (tmp_path / "test_hang.py").write_text(
        "import threading\n\ndef test_hang():\n    assert threading.Event().wait(60) is False\n"
    )
    env = {
        "JOB_COMPLETION_INDEX": "0",
        "TEST_SHARDS": "1",
        "TEST_RUNNER_SUITE": str(tmp_path),
        "TEST_RUNNER_RUN_TIMEOUT": "2",
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
    }
    done = subprocess.run(
        [sys.executable, "-m", "testing.runner", "shard"],
        capture_output=True,
        text=True,
        timeout=180,
        env=env,
        cwd=tmp_path,
        check=False,
    )
    assert done.returncode == 1
    assert "pytest ran longer than 2s" in done.stderr
    assert "wrote no JUnit report" in done.stderr


def test_shard_entry_refuses_an_index_outside_the_shard_count(tmp_path: Path) -> None:
    env = {"JOB_COMPLETION_INDEX": "5", "TEST_SHARDS": "2", "PATH": "/usr/bin:/bin"}
    done = subprocess.run(
        [sys.executable, "-m", "testing.runner", "shard"],
        capture_output=True,
        text=True,
        timeout=180,
        env=env,
        cwd=tmp_path,
        check=False,
    )
    assert done.returncode == 1
    assert "shard 5 is not within 0..1" in done.stderr
