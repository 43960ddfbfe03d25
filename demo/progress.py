"""Progress lines for long steps, on stderr so stdout stays a clean summary.

Plain lines (not carriage-return redraws) because the same output ends up in Kubernetes
Job logs, where a redraw would be noise.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TextIO


class Progress:
    def __init__(self, prefix: str, stream: TextIO | None = None, enabled: bool = True) -> None:
        self.prefix = prefix
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = enabled

    def say(self, message: str) -> None:
        if self.enabled:
            print(f"[{self.prefix}] {message}", file=self.stream, flush=True)

    @contextmanager
    def step(self, label: str) -> Iterator[None]:
        started = time.perf_counter()
        self.say(f"{label} ...")
        yield
        self.say(f"{label} done in {time.perf_counter() - started:.1f}s")

    def counter(self, label: str, total: int) -> Callable[[int], None]:
        """A callback that reports ``done/total`` rows, for loops over big tables."""

        def tick(done: int) -> None:
            self.say(f"{label}: {done}/{total} rows ({done / total:.0%})")

        return tick
