"""Suite-wide setup shared by every tier."""

from __future__ import annotations

import signal

import pytest


def pytest_configure(config: pytest.Config) -> None:
    """Give SIGINT its interactive meaning back before any test runs.

    A process started in the background by a non-interactive shell (``cmd &``, which is
    how many CI harnesses start jobs) inherits SIGINT as *ignored*, and Python then
    never installs its KeyboardInterrupt handler. The Ctrl-C tests send a real SIGINT
    to this process or to a child it spawns; with the signal ignored they would hang
    until their fake command gave up and then fail for the wrong reason. Restoring the
    default handler here (children get the default disposition on exec) makes the
    suite behave the same however it was started.
    """
    del config
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
