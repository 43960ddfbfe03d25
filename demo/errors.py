"""Expected failures of the demo: the CLI prints their message as one line and exits non-zero."""

from __future__ import annotations


class DemoError(RuntimeError):
    """A failure the user can act on (bad configuration, unreachable service, bad data)."""


class ConfigError(DemoError):
    """A required setting is missing or malformed."""


class QualityError(DemoError):
    """A data-quality check failed; ``report`` is the readable multi-line report."""

    def __init__(self, message: str, report: str) -> None:
        super().__init__(message)
        self.report = report
