"""Sharding and merging with real JUnit files written by real pytest runs.

A small suite with known outcomes (passes, failures, an error, skips) is generated in
a temporary directory and run once per shard through the same entry the runner pods
use; the merged report must add up to exactly the suite's outcomes.
"""

from __future__ import annotations

import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from testing.runner import RunnerError
from testing.runner.junit import merge, write_merged

SUITE = """
import pytest

def double(n):
    return n * 2

@pytest.fixture
def broken():
    raise RuntimeError("fixture broke")

@pytest.mark.parametrize("n", range(7))
def test_passes(n):
    assert double(n) == n + n

@pytest.mark.parametrize("n", range(3))
def test_fails(n):
    assert double(n) == -1

def test_errors(broken):
    assert broken == 1

@pytest.mark.skip(reason="planted skip")
def test_skipped():
    assert double(1) == 3
"""
# 7 passed, 3 failed, 1 error, 1 skipped: 12 tests.


@pytest.fixture(scope="module")
def suite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("suite")
    (root / "test_generated.py").write_text(SUITE)
    return root


def _run_shard(suite: Path, index: int, count: int, out: Path) -> Path:
    report = out / f"shard-{index}.xml"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            str(suite),
            "-q",
            "-p",
            "no:cacheprovider",
            f"--shard-index={index}",
            f"--shard-count={count}",
            f"--junitxml={report}",
            "-o",
            "junit_family=xunit2",
            "--rootdir",
            str(suite),
        ],
        capture_output=True,
        timeout=120,
        check=False,
        cwd=suite,
    )
    return report


@pytest.mark.parametrize("count", [1, 3])
def test_merged_shards_add_up_to_the_whole_suite(suite: Path, tmp_path: Path, count: int) -> None:
    reports = [_run_shard(suite, i, count, tmp_path) for i in range(count)]
    tree, totals = merge(reports)
    assert (totals.tests, totals.failures, totals.errors, totals.skipped) == (12, 3, 1, 1)
    assert totals.passed == 7
    root = tree.getroot()
    assert root.get("tests") == "12"
    assert root.get("failures") == "3"
    assert [s.get("name") for s in root.iter("testsuite")] == [f"shard-{i}" for i in range(count)]
    names = [case.get("name") for case in root.iter("testcase")]
    assert len(names) == len(set(names)) == 12  # every test exactly once


def test_each_shard_runs_a_near_equal_share(suite: Path, tmp_path: Path) -> None:
    sizes = [merge([_run_shard(suite, i, 3, tmp_path)])[1].tests for i in range(3)]
    assert sizes == [4, 4, 4]


def test_totals_are_recounted_from_testcases_not_copied(tmp_path: Path) -> None:
    lying = tmp_path / "lying.xml"
    lying.write_text(
        '<testsuite name="x" tests="100" failures="0" errors="0" skipped="0" time="1.5">'
        '<testcase classname="a" name="ok"/>'
        '<testcase classname="a" name="bad"><failure message="no"/></testcase>'
        "</testsuite>"
    )
    out = tmp_path / "merged.xml"
    totals = write_merged([lying], out)
    assert (totals.tests, totals.failures, totals.time) == (2, 1, 1.5)
    assert not totals.ok
    written = ET.parse(out).getroot()  # noqa: S314 - written by this test
    assert (written.get("tests"), written.get("failures")) == ("2", "1")


def test_garbage_and_nothing_are_refused(tmp_path: Path) -> None:
    bad = tmp_path / "bad.xml"
    bad.write_text("<html>not junit</html>")
    with pytest.raises(RunnerError, match="not a JUnit report"):
        merge([bad])
    with pytest.raises(RunnerError, match="no JUnit reports"):
        merge([])
    with pytest.raises(RunnerError, match="cannot read JUnit report"):
        merge([tmp_path / "missing.xml"])


def test_a_run_that_ran_no_test_is_not_a_pass(tmp_path: Path) -> None:
    """Every shard exiting 5 (nothing collected) must not read as a green suite."""
    from testing.runner.run import RunResult  # noqa: PLC0415 - imports the Kubernetes client

    empty = tmp_path / "empty.xml"
    empty.write_text('<testsuite name="x" tests="0" time="0.1"></testsuite>')
    nothing = RunResult(write_merged([empty], tmp_path / "m0.xml"), tmp_path, {0: 5, 1: 5})
    assert (nothing.totals.tests, nothing.ok) == (0, False)
    one = tmp_path / "one.xml"
    one.write_text('<testsuite name="x" time="0.1"><testcase classname="a" name="ok"/></testsuite>')
    ran = RunResult(write_merged([empty, one], tmp_path / "m1.xml"), tmp_path, {0: 5, 1: 0})
    assert (ran.totals.tests, ran.ok) == (1, True)
    crashed = RunResult(ran.totals, tmp_path, {0: 5, 1: 2})
    assert not crashed.ok
