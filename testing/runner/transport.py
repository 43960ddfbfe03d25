"""Carry a shard's JUnit report out of its pod through the pod's log.

A finished pod's files are gone with it, and shared volumes would need a storage
class that supports many writers; the log is kept by every cluster and readable
through the API with the runner's read-only Role. The report travels compressed and
base64-encoded between two marker lines that also carry pytest's exit code.
"""

from __future__ import annotations

import base64
import binascii
import gzip
import re

from testing.runner import RunnerError

BEGIN = "----- ktp-junit begin shard={shard} exit={exit_code} -----"
END = "----- ktp-junit end -----"
_BLOCK = re.compile(
    r"^----- ktp-junit begin shard=(?P<shard>\d+) exit=(?P<exit>-?\d+) -----$\n"
    r"(?P<body>.*?)^----- ktp-junit end -----$",
    re.MULTILINE | re.DOTALL,
)
LINE_WIDTH = 76


def encode(report: bytes, *, shard: int, exit_code: int) -> str:
    payload = base64.b64encode(gzip.compress(report)).decode("ascii")
    lines = [payload[i : i + LINE_WIDTH] for i in range(0, len(payload), LINE_WIDTH)]
    return "\n".join([BEGIN.format(shard=shard, exit_code=exit_code), *lines, END]) + "\n"


def decode(log: str, *, shard: int) -> tuple[int, bytes]:
    """(pytest exit code, report bytes) of ``shard`` from its pod's log."""
    for match in _BLOCK.finditer(log):
        if int(match["shard"]) != shard:
            continue
        body = "".join(match["body"].split())
        try:
            return int(match["exit"]), gzip.decompress(base64.b64decode(body, validate=True))
        except (binascii.Error, OSError, EOFError) as exc:
            raise RunnerError(
                f"shard {shard}: its JUnit report in the log is corrupt: {exc}"
            ) from None
    raise RunnerError(
        f"shard {shard}: no JUnit report in its log (the pod died before pytest finished?)"
    )
