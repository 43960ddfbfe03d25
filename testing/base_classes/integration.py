"""``IntegrationTestBase``: declare the services a test class needs; missing ones FAIL it.

    class TestOrders(IntegrationTestBase):
        required_services = ("postgres", "s3", http_check("api", "http://127.0.0.1:8080/healthz"))

Before the class's first test every listed service is checked at once with a real
protocol check (a query, a bucket listing, a health endpoint). If any is missing,
every test of the class fails with one message listing each missing service and
the command that starts it; it never skips, because a skipped integration test
hides exactly the outage it should report.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

import pytest

from testing.services.health import (
    ServiceCheck,
    check_all,
    describe,
    postgres_check,
    s3_check,
)

#: Names usable in ``required_services`` instead of a :class:`ServiceCheck`.
NAMED_CHECKS: dict[str, Callable[[], ServiceCheck]] = {
    "postgres": postgres_check,
    "s3": s3_check,
}


def resolve_checks(required: tuple[str | ServiceCheck, ...]) -> list[ServiceCheck]:
    checks: list[ServiceCheck] = []
    for entry in required:
        if isinstance(entry, ServiceCheck):
            checks.append(entry)
        elif entry in NAMED_CHECKS:
            checks.append(NAMED_CHECKS[entry]())
        else:
            raise ValueError(
                f"unknown service {entry!r} in required_services; use one of "
                f"{', '.join(NAMED_CHECKS)} or a ServiceCheck"
            )
    return checks


class IntegrationTestBase:
    """Checks ``required_services`` once per class, all together, before any test runs."""

    required_services: ClassVar[tuple[str | ServiceCheck, ...]] = ()

    @pytest.fixture(scope="class", autouse=True)
    @classmethod
    def _required_services_up(cls) -> None:
        failures = check_all(resolve_checks(cls.required_services))
        if failures:
            pytest.fail(describe(failures), pytrace=False)
