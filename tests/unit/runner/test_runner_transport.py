"""JUnit reports travel through pod logs: round trip, noise, corruption, absence."""

from __future__ import annotations

import pytest

from testing.runner import RunnerError
from testing.runner.transport import decode, encode

REPORT = b'<?xml version="1.0"?><testsuites><testsuite name="pytest" tests="1"/></testsuites>' * 50


def test_round_trip_inside_a_noisy_log() -> None:
    log = "collected 3 items\n....F\n" + encode(REPORT, shard=2, exit_code=1) + "bye\n"
    assert decode(log, shard=2) == (1, REPORT)


def test_the_block_of_the_asked_shard_is_chosen() -> None:
    log = encode(b"<zero/>", shard=0, exit_code=0) + encode(b"<one/>", shard=1, exit_code=5)
    assert decode(log, shard=1) == (5, b"<one/>")


def test_lines_stay_short_enough_for_log_pipelines() -> None:
    assert max(len(line) for line in encode(REPORT, shard=0, exit_code=0).splitlines()) <= 76


def test_a_missing_report_names_the_shard() -> None:
    with pytest.raises(RunnerError, match="shard 3: no JUnit report"):
        decode("Traceback (most recent call last):\n  boom\n", shard=3)


def test_a_corrupt_report_is_refused() -> None:
    block = encode(REPORT, shard=0, exit_code=0).splitlines()
    block[1] = "!!!!" + block[1][4:]
    with pytest.raises(RunnerError, match="corrupt"):
        decode("\n".join(block) + "\n", shard=0)
