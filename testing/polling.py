"""Waiting for a condition with a hard deadline: the one place in ``testing`` that sleeps.

Prior art polled with loops that could overrun their deadline (a slow check started
just before the deadline ran to completion), kept polling after a pod had already
failed, and swallowed ``TypeError`` from a typo in the predicate until the timeout.
``wait_for_condition`` fixes all three:

* each attempt runs with the time that is left as its bound: an attempt still
  running at the deadline ends the wait at the deadline;
* a predicate raises :class:`TerminalFailure` to say "this will never succeed" and
  the wait stops at once with that reason;
* programming errors propagate immediately.

The clock and the sleep are injectable so unit tests run in milliseconds.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")

#: Exceptions that mean the predicate itself is broken; retrying cannot help.
PROGRAMMING_ERRORS: tuple[type[BaseException], ...] = (
    TypeError,
    AttributeError,
    NameError,
    ImportError,
    SyntaxError,
    AssertionError,
    NotImplementedError,
    RecursionError,
)


class TerminalFailure(Exception):  # noqa: N818 - it is a signal, not only an error
    """Raised by a predicate when the awaited condition can never become true."""


class ConditionFailedError(RuntimeError):
    """The wait stopped early because the predicate reported a terminal failure."""

    def __init__(self, description: str, reason: str, elapsed: float, attempts: int) -> None:
        self.description = description
        self.reason = reason
        self.elapsed = elapsed
        self.attempts = attempts
        super().__init__(
            f"{description}: failed after {elapsed:.2f}s and {attempts} attempt(s): {reason}"
        )


class WaitTimeoutError(TimeoutError):
    """The deadline passed before the condition became true."""

    def __init__(
        self,
        description: str,
        timeout: float,
        elapsed: float,
        attempts: int,
        *,
        last_value: object = None,
        last_error: BaseException | None = None,
        still_running: bool = False,
    ) -> None:
        self.description = description
        self.timeout = timeout
        self.elapsed = elapsed
        self.attempts = attempts
        self.last_value = last_value
        self.last_error = last_error
        self.still_running = still_running
        if still_running:
            last = "the last attempt was still running at the deadline"
        elif last_error is not None:
            last = f"last error: {type(last_error).__name__}: {last_error}"
        else:
            last = f"last value: {last_value!r}"
        super().__init__(
            f"timed out after {elapsed:.2f}s (limit {timeout:g}s, {attempts} attempt(s)) "
            f"waiting for {description}; {last}"
        )


@dataclass(frozen=True)
class Backoff:
    """Exponential backoff between attempts, capped."""

    initial: float = 0.05
    factor: float = 2.0
    maximum: float = 2.0

    def __post_init__(self) -> None:
        if self.initial <= 0 or self.maximum < self.initial or self.factor < 1:
            raise ValueError("backoff needs 0 < initial <= maximum and factor >= 1")

    def delay(self, attempt: int) -> float:
        """Delay after the ``attempt``-th failed attempt (1-based)."""
        return float(min(self.maximum, self.initial * self.factor ** (attempt - 1)))


@dataclass
class _Outcome(Generic[T]):
    value: T | None = None
    error: BaseException | None = None


def _call_within(predicate: Callable[[], T], budget: float) -> tuple[bool, _Outcome[T]]:
    """Run one attempt in a daemon thread; return (finished, outcome) after at most ``budget``."""
    outcome: _Outcome[T] = _Outcome()
    done = threading.Event()

    def run() -> None:
        try:
            outcome.value = predicate()
        except BaseException as exc:  # handed back to the waiting thread below
            outcome.error = exc
        finally:
            done.set()

    threading.Thread(target=run, name="wait_for_condition-attempt", daemon=True).start()
    return done.wait(max(budget, 0.0)), outcome


def _call_inline(predicate: Callable[[], T], budget: float) -> tuple[bool, _Outcome[T]]:
    del budget  # the caller checks the clock after the attempt
    try:
        return True, _Outcome(value=predicate())
    except BaseException as exc:
        return True, _Outcome(error=exc)


def _pacing(interval: float | None, backoff: Backoff | None) -> Backoff:
    if interval is None:
        return backoff or Backoff()
    if backoff is not None:
        raise ValueError("give either interval or backoff, not both")
    if interval <= 0:
        raise ValueError(f"interval must be positive, got {interval!r}")
    return Backoff(initial=interval, factor=1.0, maximum=interval)


def wait_for_condition(
    predicate: Callable[[], T],
    *,
    timeout: float,
    description: str,
    backoff: Backoff | None = None,
    interval: float | None = None,
    retry_on: tuple[type[BaseException], ...] = (Exception,),
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    bound_attempts: bool = True,
) -> T:
    """Call ``predicate`` until it returns a truthy value, and return that value.

    ``predicate`` returns something falsy to mean "not yet", raises
    :class:`TerminalFailure` to mean "never", and may raise any exception in
    ``retry_on`` (recorded, then retried). Exceptions in :data:`PROGRAMMING_ERRORS`
    (``TypeError``, ``AttributeError`` and the like: a bug, not a state) and any
    exception outside ``retry_on`` propagate at once, as does ``KeyboardInterrupt``.

    Between attempts it waits ``interval`` seconds (a fixed period, what most callers
    want) or, when none is given, by ``backoff`` (exponential; default
    :class:`Backoff`). Naming both is an error.

    With ``bound_attempts`` (the default) each attempt runs in a helper thread and
    the wait gives up at the deadline even if the attempt hangs; pass ``False`` for
    predicates that must run on the calling thread (then a slow attempt is noticed
    as soon as it returns, and no further attempt starts).
    """
    if timeout <= 0:
        raise ValueError(f"timeout must be positive, got {timeout!r}")
    backoff = _pacing(interval, backoff)
    call = _call_within if bound_attempts else _call_inline
    start = clock()
    deadline = start + timeout
    attempts = 0
    last_value: object = None
    last_error: BaseException | None = None

    while True:
        budget = deadline - clock()
        if budget <= 0:
            raise WaitTimeoutError(
                description,
                timeout,
                clock() - start,
                attempts,
                last_value=last_value,
                last_error=last_error,
            )
        attempts += 1
        finished, outcome = call(predicate, budget)
        now = clock()
        if not finished:
            raise WaitTimeoutError(
                description,
                timeout,
                now - start,
                attempts,
                last_value=last_value,
                last_error=last_error,
                still_running=True,
            )
        error = outcome.error
        if error is not None:
            if isinstance(error, TerminalFailure):
                raise ConditionFailedError(
                    description, str(error), now - start, attempts
                ) from error
            if isinstance(error, PROGRAMMING_ERRORS) or not isinstance(error, retry_on):
                raise error
            last_error, last_value = error, None
        elif outcome.value:
            return outcome.value
        else:
            last_error, last_value = None, outcome.value

        remaining = deadline - now
        if remaining > 0:
            sleep(min(backoff.delay(attempts), remaining))
