"""Waiting for a condition with a hard deadline: the one place in ``testing`` that sleeps.

Prior art polled with loops that could overrun their deadline (a slow check started
just before the deadline ran to completion), kept polling after a pod had already
failed, and swallowed ``TypeError`` from a typo in the predicate until the timeout.
``wait_for_condition`` fixes all three:

* each attempt runs with the time that is left as its bound: an attempt still
  running at the deadline ends the wait at the deadline, and what it returns
  later is handed to ``release`` (so a connection it opened is closed);
* a predicate raises :class:`TerminalFailure` to say "this will never succeed" and
  the wait stops at once with that reason;
* programming errors propagate immediately.

The clock and the sleep are injectable so unit tests run in milliseconds.
"""

from __future__ import annotations

import math
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
        """Delay after the ``attempt``-th failed attempt (1-based).

        The exponent is capped before it is raised: ``factor ** attempt`` overflows a
        float after about a thousand attempts, which a long wait reaches.
        """
        if self.factor == 1 or self.initial >= self.maximum:
            return float(self.initial)
        steps_to_cap = math.ceil(math.log(self.maximum / self.initial, self.factor))
        if attempt - 1 >= steps_to_cap:
            return float(self.maximum)
        return float(min(self.maximum, self.initial * self.factor ** (attempt - 1)))


@dataclass
class _Outcome(Generic[T]):
    value: T | None = None
    error: BaseException | None = None


def _call_within(
    predicate: Callable[[], T], budget: float, release: Callable[[T], object] | None
) -> tuple[bool, _Outcome[T]]:
    """Run one attempt in a daemon thread; return (finished, outcome) after at most ``budget``.

    An attempt still running when the budget is spent is abandoned: the caller moves
    on, and a value it returns later goes to ``release`` on the helper thread.
    """
    outcome: _Outcome[T] = _Outcome()
    done = threading.Event()
    lock = threading.Lock()
    abandoned = False

    def run() -> None:
        value: T | None = None
        try:
            value = predicate()
        except BaseException as exc:  # handed back to the waiting thread below
            outcome.error = exc
        with lock:
            outcome.value = value
            done.set()
            late = abandoned
        if late and value is not None and release is not None:
            release(value)

    threading.Thread(target=run, name="wait_for_condition-attempt", daemon=True).start()
    finished = done.wait(max(budget, 0.0))
    if not finished:
        with lock:
            finished = done.is_set()  # it may have finished while the wait timed out
            abandoned = not finished
    return finished, outcome


def _call_inline(
    predicate: Callable[[], T], budget: float, release: Callable[[T], object] | None
) -> tuple[bool, _Outcome[T]]:
    del budget, release  # the caller checks the clock after the attempt; nothing is abandoned
    try:
        return True, _Outcome(value=predicate())
    except BaseException as exc:
        return True, _Outcome(error=exc)


def run_bounded(
    call: Callable[[], T],
    *,
    timeout: float,
    description: str,
    release: Callable[[T], object] | None = None,
) -> T:
    """Return ``call()``, or raise :class:`WaitTimeoutError` once ``timeout`` has passed.

    For a single blocking call that has no timeout of its own (a websocket connect,
    say). It runs on a helper thread; when the time is up the caller goes on, and
    what ``call`` returns later is handed to ``release``, so nothing it opened stays
    open. Its exceptions are raised as they are.
    """
    if timeout <= 0:
        raise ValueError(f"timeout must be positive, got {timeout!r}")
    start = time.monotonic()
    finished, outcome = _call_within(call, timeout, release)
    if not finished:
        raise WaitTimeoutError(
            description, timeout, time.monotonic() - start, 1, still_running=True
        )
    if outcome.error is not None:
        raise outcome.error
    return outcome.value  # type: ignore[return-value]  # None only if call() returned None


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
    may_overrun_deadline: bool = False,
    release: Callable[[T], object] | None = None,
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

    By default each attempt runs in a helper thread and the wait gives up at the
    deadline even if the attempt hangs; a value such an abandoned attempt returns
    later is handed to ``release`` (close what it opened there). Predicates that
    must run on the calling thread pass ``may_overrun_deadline=True``: an attempt
    that starts before the deadline then runs to its end, however long it takes,
    and no further attempt starts after the deadline.
    """
    if timeout <= 0:
        raise ValueError(f"timeout must be positive, got {timeout!r}")
    backoff = _pacing(interval, backoff)
    call = _call_inline if may_overrun_deadline else _call_within
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
        finished, outcome = call(predicate, budget, release)
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
