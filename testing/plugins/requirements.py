"""Requirement markers, the never-skip rule and the quality rules, enforced by pytest itself.

Conventions that are only written down erode; these are collection errors instead:

* ``@pytest.mark.requirement("ID", ...)`` is registered here. Every test under
  ``tests/integration`` and ``tests/e2e`` names at least one id from the registry
  (``tests/requirements.yaml``); a missing, empty or unknown id fails collection
  with ``file:line``. Unit tests may carry the marker (and then count for
  coverage) but need not; an unknown id is an error in every tier.
* In integration and e2e files, ``skip``/``skipif``/``xfail`` marks and
  ``pytest.skip``/``xfail``/``importorskip`` fail collection, and a skip raised at
  run time (a fixture that skips when a service is down) is reported as a
  failure that keeps the skip's reason.
* Every collected test module is checked by :mod:`testing.quality`; a finding
  fails the module's collection.

Each test's outcome and requirement ids are merged into the results file
(``--requirements-report`` / ``$TEST_RESULTS_JSON``, default
``artifacts/traceability/results.json``) so the traceability report can show
the last result. ``--requirements-inventory=PATH`` switches enforcement off and
only records what was collected, for ``python -m testing.traceability``.
"""

from __future__ import annotations

import os
from collections.abc import Generator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from testing.quality.checker import check_file, is_test_module
from testing.traceability.inventory import (
    INVENTORY_OPTION,
    CollectedTest,
    Inventory,
    write_inventory,
)
from testing.traceability.registry import (
    DEFAULT_REGISTRY,
    REGISTRY_ENV,
    Registry,
    RegistryError,
    load_registry,
)
from testing.traceability.results import merge_results, results_path
from testing.traceability.tiers import GATED_TIERS, tier_of

MARKER = "requirement"
SKIP_MARKS = ("skip", "skipif", "xfail")
NEVER_SKIP = "integration and e2e tests never skip or xfail: make the test run or delete it"
_RANK = {"passed": 0, "skipped": 1, "error": 2, "failed": 3}


@dataclass
class _State:
    root: Path
    registry_path: Path
    inventory_path: Path | None
    results_path: Path
    registry: Registry | RegistryError | None = None
    inventory: Inventory = field(default_factory=Inventory)
    outcomes: dict[str, dict[str, Any]] = field(default_factory=dict)

    def load_registry(self) -> Registry:
        if self.registry is None:
            try:
                self.registry = load_registry(self.registry_path, self.root)
            except RegistryError as exc:
                self.registry = exc
        if isinstance(self.registry, RegistryError):
            raise self.registry
        return self.registry

    def relative(self, path: Path) -> str:
        try:
            return str(path.resolve().relative_to(self.root.resolve()))
        except ValueError:
            return str(path)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("requirements", "requirement traceability and test-quality gates")
    group.addoption(
        "--requirements-registry",
        help=f"requirement registry (default ${REGISTRY_ENV} or {DEFAULT_REGISTRY})",
    )
    group.addoption(
        "--requirements-report",
        help="merge each test's outcome and requirement ids into this JSON file "
        "(default $TEST_RESULTS_JSON or artifacts/traceability/results.json)",
    )
    group.addoption(
        INVENTORY_OPTION,
        help="only record collected tests and their requirement ids to this JSON file; "
        "enforce nothing (used by python -m testing.traceability)",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{MARKER}(*ids): the requirement ids (from the registry) this test verifies; "
        "required on integration and e2e tests",
    )
    root = config.rootpath
    registry = Path(
        config.getoption("--requirements-registry")
        or os.environ.get(REGISTRY_ENV)
        or DEFAULT_REGISTRY
    )
    inventory = config.getoption(INVENTORY_OPTION)
    state = _State(
        root=root,
        registry_path=registry if registry.is_absolute() else root / registry,
        inventory_path=Path(inventory).resolve() if inventory else None,
        results_path=results_path(root, config.getoption("--requirements-report")),
    )
    config.pluginmanager.register(_Gate(config, state), "requirements-gate")


def _location(item: pytest.Item, state: _State) -> tuple[str, int, str]:
    line = item.location[1]
    name = getattr(item, "originalname", None) or item.name
    return state.relative(item.path), (line + 1) if line is not None else 1, name


def _marked_ids(item: pytest.Item) -> tuple[list[str], list[str]]:
    """The ids an item names, and the problems with how it names them."""
    ids: list[str] = []
    problems: list[str] = []
    for mark in item.iter_markers(MARKER):
        if not mark.args:
            problems.append(f'@pytest.mark.{MARKER}() names no id; write {MARKER}("ID")')
        for arg in mark.args:
            if isinstance(arg, str) and arg.strip():
                ids.append(arg.strip())
            else:
                problems.append(f"requirement id {arg!r} is not a non-empty string")
    return list(dict.fromkeys(ids)), problems


def _item_problems(item: pytest.Item, state: _State, gated: bool, marks_done: bool) -> list[str]:
    where, line, name = _location(item, state)
    prefix = f"{where}:{line}: {name}"
    ids, problems = _marked_ids(item)
    lines = [f"{prefix}: {p}" for p in problems]
    if gated and not ids and not problems:
        lines.append(
            f'{prefix} names no requirement; add @pytest.mark.{MARKER}("ID") with an id from '
            f"{state.relative(state.registry_path)} (integration and e2e tests must trace to one)"
        )
    if ids:
        try:
            known = state.load_registry().ids
        except RegistryError as exc:
            return lines + exc.lines
        lines += [
            f"{prefix} names unknown requirement {rid!r}; register it in "
            f"{state.relative(state.registry_path)} or fix the id"
            for rid in ids
            if rid not in known
        ]
    if gated and not marks_done:
        lines += [
            f"{prefix} is marked {mark}; {NEVER_SKIP}"
            for mark in SKIP_MARKS
            if any(True for _ in item.iter_markers(mark))
        ]
    return lines


def _skip_reason(report: pytest.TestReport, call: pytest.CallInfo[None]) -> str:
    wasxfail = getattr(report, "wasxfail", None)
    if wasxfail is not None:
        return f"xfail: {wasxfail}" if wasxfail else "xfail"
    if isinstance(report.longrepr, tuple):
        return str(report.longrepr[2]).removeprefix("Skipped: ")
    if call.excinfo is not None:
        return str(call.excinfo.value) or call.excinfo.typename
    return "no reason given"


class _Gate:
    """The per-session hooks; one instance per pytest config (pytester nests sessions)."""

    def __init__(self, config: pytest.Config, state: _State) -> None:
        self.config = config
        self.state = state

    @pytest.hookimpl(wrapper=True)
    def pytest_make_collect_report(
        self, collector: pytest.Collector
    ) -> Generator[None, pytest.CollectReport, pytest.CollectReport]:
        report: pytest.CollectReport = yield
        state = self.state
        if state.inventory_path is not None or not isinstance(
            collector, pytest.Module | pytest.Class
        ):
            return report
        gated = tier_of(collector.path, state.root) in GATED_TIERS
        lines: list[str] = []
        marks_done = False
        if isinstance(collector, pytest.Module):
            if is_test_module(collector.path):
                findings = check_file(collector.path, state.root).findings
                lines += [str(f) for f in findings]
                marks_done = any(f.rule == "TQ006" for f in findings)
            if gated and report.skipped:
                longrepr = report.longrepr
                reason = str(longrepr[2]) if isinstance(longrepr, tuple) else "no reason"
                reason = reason.removeprefix("Skipped: ")
                lines.append(
                    f"{state.relative(collector.path)}:1: module skipped while importing "
                    f"({reason}); {NEVER_SKIP}"
                )
        if report.passed:
            for node in report.result:
                if isinstance(node, pytest.Item):
                    lines += _item_problems(node, state, gated, marks_done)
        if lines:
            report.outcome = "failed"
            report.longrepr = "\n".join(dict.fromkeys(lines))
            report.result = []
        return report

    @pytest.hookimpl(wrapper=True, tryfirst=True)
    def pytest_runtest_makereport(
        self, item: pytest.Item, call: pytest.CallInfo[None]
    ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
        report: pytest.TestReport = yield
        state = self.state
        tier = tier_of(item.path, state.root)
        # Extra attributes survive pytest-xdist's report serialisation to the controller.
        report.requirement_ids = _marked_ids(item)[0]  # type: ignore[attr-defined]
        report.requirement_tier = tier  # type: ignore[attr-defined]
        if report.skipped and tier in GATED_TIERS and state.inventory_path is None:
            where, line, name = _location(item, state)
            reason = _skip_reason(report, call)
            if hasattr(report, "wasxfail"):
                del report.wasxfail
            report.outcome = "failed"
            report.longrepr = (
                f"{where}:{line}: {name} was skipped during {report.when} ({reason}); a skip in "
                f"{tier} tests is a failure: make what it needs available, or fail with that reason"
            )
        return report

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if hasattr(self.config, "workerinput"):
            return  # an xdist worker: the controller records what the worker reports
        if report.when == "call" or report.outcome != "failed":
            outcome: str = report.outcome
        else:
            outcome = "error"  # setup or teardown failed
        record = self.state.outcomes.get(report.nodeid)
        if record is None or _RANK[outcome] > _RANK[record["outcome"]]:
            self.state.outcomes[report.nodeid] = {
                "outcome": outcome,
                "finished": datetime.now(UTC).isoformat(timespec="seconds"),
                "tier": getattr(report, "requirement_tier", None),
                "requirements": list(getattr(report, "requirement_ids", [])),
            }

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if self.state.inventory_path is not None and report.failed:
            text = [ln.strip() for ln in str(report.longreprtext).splitlines() if ln.strip()]
            message = text[-1].removeprefix("E").strip() if text else "collection error"
            self.state.inventory.errors.append((report.nodeid, message))

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        state = self.state
        if state.inventory_path is None:
            return
        for item in session.items:
            where, line, name = _location(item, state)
            state.inventory.tests.append(
                CollectedTest(
                    nodeid=item.nodeid,
                    file=where,
                    line=line,
                    name=name,
                    tier=tier_of(item.path, state.root),
                    requirements=tuple(_marked_ids(item)[0]),
                )
            )
        write_inventory(state.inventory_path, state.inventory)

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        if not self.state.outcomes or hasattr(self.config, "workerinput"):
            return
        try:
            merge_results(self.state.results_path, self.state.outcomes)
        except OSError as exc:
            reporter = self.config.pluginmanager.get_plugin("terminalreporter")
            if reporter is not None:
                reporter.write_line(
                    f"warning: could not record results in {self.state.results_path}: {exc}"
                )
