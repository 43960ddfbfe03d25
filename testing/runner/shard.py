"""The entry point inside a test-runner pod: run this pod's shard and emit its report.

pytest runs as a child process with a timeout; its JUnit XML is printed to the log
(see :mod:`testing.runner.transport`). The pod exits 0 whenever a report exists,
because failed tests are results that the merged report carries; a non-zero exit
means the shard could not produce a report at all.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path

from testing.runner.transport import encode

DEFAULT_RUN_TIMEOUT_S = 1800


def pytest_argv(suite: str, shard: int, shards: int, junit: Path) -> list[str]:
    return [
        sys.executable,
        "-m",
        "pytest",
        suite,
        f"--shard-index={shard}",
        f"--shard-count={shards}",
        f"--junitxml={junit}",
        # The runner's service account may not create pods or namespaces.
        "-m",
        "not from_host",
        "-p",
        "no:cacheprovider",
        "-o",
        "junit_family=xunit2",
    ]


def run_shard(environ: Mapping[str, str] | None = None) -> int:
    env = os.environ if environ is None else environ
    shard = int(env.get("JOB_COMPLETION_INDEX", "0"))
    shards = int(env.get("TEST_SHARDS", "1"))
    suite = env.get("TEST_RUNNER_SUITE", "tests/e2e")
    timeout = float(env.get("TEST_RUNNER_RUN_TIMEOUT") or DEFAULT_RUN_TIMEOUT_S)
    if not 0 <= shard < shards:
        print(
            f"shard {shard} is not within 0..{shards - 1} (TEST_SHARDS={shards})", file=sys.stderr
        )
        return 1
    with tempfile.TemporaryDirectory(prefix="ktp-shard-") as scratch:
        junit = Path(scratch) / "junit.xml"
        argv = pytest_argv(suite, shard, shards, junit)
        print(f"shard {shard} of {shards}: {' '.join(argv[1:])}", flush=True)
        try:
            code = subprocess.run(argv, timeout=timeout, check=False).returncode
        except subprocess.TimeoutExpired:
            print(f"shard {shard}: pytest ran longer than {timeout:g}s", file=sys.stderr)
            code = -1
        if not junit.is_file():
            print(f"shard {shard}: pytest wrote no JUnit report (exit {code})", file=sys.stderr)
            return 1
        sys.stdout.write(encode(junit.read_bytes(), shard=shard, exit_code=code))
        sys.stdout.flush()
    return 0
