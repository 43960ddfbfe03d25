"""The in-cluster, sharded test runner (an Indexed Job) and its result collection."""

from __future__ import annotations


class RunnerError(RuntimeError):
    """An expected runner failure: one actionable line, shown without a traceback."""
