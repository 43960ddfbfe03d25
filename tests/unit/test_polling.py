"""wait_for_condition: deadline, backoff, terminal failure, error message, pass-through.

A fake clock drives every test but one, so the suite never really sleeps; the one
real-time test bounds a predicate that hangs, which only real threads can show.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator

import pytest

from testing.polling import (
    Backoff,
    ConditionFailedError,
    TerminalFailure,
    WaitTimeoutError,
    run_bounded,
    wait_for_condition,
)


class FakeClock:
    """A monotonic clock that only moves when the code under test sleeps or a step says so."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def results(*values: object) -> Callable[[], object]:
    """A predicate that plays back ``values``; an exception instance is raised."""
    items: Iterator[object] = iter(values)

    def predicate() -> object:
        item = next(items)
        if isinstance(item, BaseException):
            raise item
        return item

    return predicate


def wait(predicate: Callable[[], object], clock: FakeClock, **kwargs: object) -> object:
    options: dict[str, object] = {"timeout": 10.0, "description": "the thing", **kwargs}
    return wait_for_condition(
        predicate,
        clock=clock,
        sleep=clock.sleep,
        **options,  # type: ignore[arg-type]
    )


@pytest.mark.requirement("CI-001")
def test_returns_first_truthy_value(clock: FakeClock) -> None:
    assert wait(results(None, [], {"ready": True}), clock) == {"ready": True}
    assert clock.sleeps == [0.05, 0.1]


def test_backoff_grows_exponentially_and_is_capped(clock: FakeClock) -> None:
    wait(results(*([False] * 7), "done"), clock, backoff=Backoff(initial=0.1, factor=2, maximum=1))
    assert clock.sleeps == [0.1, 0.2, 0.4, 0.8, 1.0, 1.0, 1.0]


def test_interval_gives_a_fixed_period(clock: FakeClock) -> None:
    wait(results(False, None, False, "done"), clock, interval=0.5)
    assert clock.sleeps == [0.5, 0.5, 0.5]


def test_interval_and_backoff_together_or_nonpositive_are_rejected(clock: FakeClock) -> None:
    with pytest.raises(ValueError, match="either interval or backoff"):
        wait(results("done"), clock, interval=1.0, backoff=Backoff())
    with pytest.raises(ValueError, match="interval must be positive"):
        wait(results("done"), clock, interval=0)


def test_backoff_never_overflows_on_a_long_wait(clock: FakeClock) -> None:
    # factor ** 1024 is beyond a float: the delay must stay at the cap instead.
    assert Backoff().delay(5000) == 2.0
    assert Backoff(initial=0.1, factor=3, maximum=0.9).delay(3) == pytest.approx(0.9)
    with pytest.raises(WaitTimeoutError) as caught:
        wait(lambda: False, clock, timeout=3600, backoff=Backoff(initial=0.5, maximum=2.0))
    assert caught.value.attempts > 1025
    assert clock.now == pytest.approx(1000 + 3600)


def test_backoff_rejects_nonsense() -> None:
    with pytest.raises(ValueError, match="initial <= maximum"):
        Backoff(initial=2, maximum=1)


@pytest.mark.requirement("CI-001")
def test_timeout_names_description_elapsed_attempts_and_last_value(clock: FakeClock) -> None:
    with pytest.raises(WaitTimeoutError) as caught:
        wait(lambda: [], clock, timeout=3, backoff=Backoff(initial=1, maximum=1))
    error = caught.value
    assert isinstance(error, TimeoutError)
    assert error.attempts == 3
    assert error.elapsed == pytest.approx(3.0)
    assert str(error) == (
        "timed out after 3.00s (limit 3s, 3 attempt(s)) waiting for the thing; last value: []"
    )


def test_timeout_reports_last_exception(clock: FakeClock) -> None:
    with pytest.raises(WaitTimeoutError, match="last error: ConnectionError: refused") as caught:
        wait(lambda: (_ for _ in ()).throw(ConnectionError("refused")), clock, timeout=1)
    assert isinstance(caught.value.last_error, ConnectionError)


def test_final_sleep_is_cut_to_the_deadline(clock: FakeClock) -> None:
    with pytest.raises(WaitTimeoutError):
        wait(lambda: 0, clock, timeout=2.5, backoff=Backoff(initial=1, factor=1, maximum=1))
    assert clock.sleeps == [1, 1, 0.5]
    assert clock.now == pytest.approx(1002.5)


@pytest.mark.requirement("CI-001")
def test_slow_attempt_never_overruns_into_another(clock: FakeClock) -> None:
    calls: list[float] = []

    def slow() -> bool:
        calls.append(clock.now)
        clock.now += 4  # each check takes 4 s
        return False

    with pytest.raises(WaitTimeoutError) as caught:
        wait(slow, clock, timeout=5, may_overrun_deadline=True)
    # Two attempts fit (started at 0 s and ~4 s); no third starts after the deadline.
    assert len(calls) == 2
    assert caught.value.attempts == 2


def test_hanging_attempt_is_abandoned_at_the_deadline() -> None:
    release = threading.Event()
    try:
        with pytest.raises(WaitTimeoutError, match="still running at the deadline") as caught:
            wait_for_condition(release.wait, timeout=0.05, description="a hanging check")
        assert caught.value.still_running
        assert caught.value.elapsed < 1.0
    finally:
        release.set()


def _await(flag: threading.Event, what: str) -> None:
    """Until ``flag`` is set, with the project's deadline-bound wait (no fixed wait)."""
    wait_for_condition(flag.is_set, timeout=10, description=what, interval=0.01)


def test_late_value_of_an_abandoned_attempt_is_released() -> None:
    go, released = threading.Event(), threading.Event()
    handed: list[object] = []

    def opens_something() -> str:
        go.wait()
        return "connection-1"

    def release(value: str) -> None:
        handed.append(value)
        released.set()

    with pytest.raises(WaitTimeoutError, match="still running at the deadline"):
        wait_for_condition(opens_something, timeout=0.05, description="x", release=release)
    assert handed == []  # abandoned, not yet finished
    go.set()
    _await(released, "the abandoned attempt to be released")
    assert handed == ["connection-1"]


def test_value_returned_in_time_is_not_released(clock: FakeClock) -> None:
    handed: list[object] = []
    assert wait(results("conn"), clock, release=handed.append) == "conn"
    assert handed == []


def test_run_bounded_returns_raises_and_releases_late_results() -> None:
    assert run_bounded(lambda: 7, timeout=5, description="seven") == 7
    with pytest.raises(ConnectionRefusedError):
        run_bounded(
            lambda: (_ for _ in ()).throw(ConnectionRefusedError()), timeout=5, description="x"
        )
    go, released = threading.Event(), threading.Event()
    handed: list[object] = []

    def connect() -> str:
        go.wait()
        return "stream"

    def close(value: str) -> None:
        handed.append(value)
        released.set()

    with pytest.raises(
        WaitTimeoutError, match="waiting for connecting; the last attempt was still running"
    ) as caught:
        run_bounded(connect, timeout=0.05, description="connecting", release=close)
    assert caught.value.still_running
    assert caught.value.attempts == 1
    go.set()
    _await(released, "the late stream to be closed")
    assert handed == ["stream"]
    with pytest.raises(ValueError, match="timeout must be positive"):
        run_bounded(lambda: 1, timeout=0, description="x")


@pytest.mark.requirement("CI-002")
def test_terminal_failure_stops_at_once(clock: FakeClock) -> None:
    predicate = results(None, TerminalFailure("pod web-0 is in CrashLoopBackOff"), "never reached")
    with pytest.raises(ConditionFailedError) as caught:
        wait(predicate, clock)
    assert caught.value.attempts == 2
    assert caught.value.reason == "pod web-0 is in CrashLoopBackOff"
    assert str(caught.value).startswith("the thing: failed after 0.05s and 2 attempt(s): pod web-0")
    assert not isinstance(caught.value, TimeoutError)


@pytest.mark.requirement("CI-002")
@pytest.mark.parametrize(
    "error",
    [TypeError("bad arg"), AttributeError("no attr"), NameError("nope"), KeyboardInterrupt()],
)
def test_programming_errors_and_interrupts_pass_through(
    clock: FakeClock, error: BaseException
) -> None:
    with pytest.raises(type(error)):
        wait(results(error, "unreachable"), clock)
    assert clock.sleeps == []


def test_errors_outside_retry_on_pass_through(clock: FakeClock) -> None:
    with pytest.raises(ValueError, match="bad"):
        wait(results(ConnectionError("x"), ValueError("bad")), clock, retry_on=(OSError,))
    with pytest.raises(LookupError):
        wait(results(LookupError("y")), clock, retry_on=(ConnectionError,))


def test_retryable_errors_are_retried(clock: FakeClock) -> None:
    assert wait(results(ConnectionError("a"), OSError("b"), 42), clock) == 42


def test_non_positive_timeout_is_rejected(clock: FakeClock) -> None:
    with pytest.raises(ValueError, match="timeout must be positive"):
        wait(lambda: True, clock, timeout=0)
