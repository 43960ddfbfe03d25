"""Merge the JUnit XML reports of every shard into one, with totals recounted.

Totals are counted from the ``<testcase>`` elements themselves (a failure, error or
skipped child), not copied from the suites' attributes, so a shard whose attributes
disagree with its content cannot make the merged report lie.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET  # building and typing only; parsing goes through defusedxml
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from defusedxml import DefusedXmlException
from defusedxml import ElementTree as SafeET

from testing.runner import RunnerError


@dataclass(frozen=True)
class Totals:
    tests: int = 0
    failures: int = 0
    errors: int = 0
    skipped: int = 0
    time: float = 0.0

    def __add__(self, other: Totals) -> Totals:
        return Totals(
            self.tests + other.tests,
            self.failures + other.failures,
            self.errors + other.errors,
            self.skipped + other.skipped,
            self.time + other.time,
        )

    @property
    def passed(self) -> int:
        return self.tests - self.failures - self.errors - self.skipped

    @property
    def ok(self) -> bool:
        return self.failures == 0 and self.errors == 0

    def summary(self) -> str:
        return (
            f"{self.passed} passed, {self.failures} failed, {self.errors} errors, "
            f"{self.skipped} skipped in {self.time:.1f}s"
        )


def _suites(root: ET.Element) -> list[ET.Element]:
    if root.tag == "testsuite":
        return [root]
    if root.tag == "testsuites":
        return list(root.iter("testsuite"))
    raise RunnerError(f"not a JUnit report: root element is <{root.tag}>")


def suite_totals(suite: ET.Element) -> Totals:
    cases = suite.findall("testcase")
    failures = sum(1 for c in cases if c.find("failure") is not None)
    errors = sum(1 for c in cases if c.find("error") is not None)
    skipped = sum(
        1
        for c in cases
        if c.find("skipped") is not None and c.find("failure") is None and c.find("error") is None
    )
    return Totals(len(cases), failures, errors, skipped, float(suite.get("time") or 0.0))


def parse(path: Path) -> list[ET.Element]:
    try:
        # The shards' reports travel through pod logs: parse them as untrusted input.
        root = SafeET.parse(path).getroot()
    except (OSError, ET.ParseError, DefusedXmlException) as exc:
        raise RunnerError(f"cannot read JUnit report {path}: {exc}") from None
    if root is None:
        raise RunnerError(f"cannot read JUnit report {path}: no root element")
    return _suites(root)


def merge(reports: Sequence[Path], *, name: str = "test-runner") -> tuple[ET.ElementTree, Totals]:
    """One ``<testsuites>`` holding every shard's suites (renamed ``shard-<n>``)."""
    if not reports:
        raise RunnerError("no JUnit reports to merge")
    merged = ET.Element("testsuites", {"name": name})
    total = Totals()
    for shard, path in enumerate(reports):
        for suite in parse(path):
            counts = suite_totals(suite)
            suite.set("name", f"shard-{shard}")
            for key in ("tests", "failures", "errors", "skipped"):
                suite.set(key, str(getattr(counts, key)))
            merged.append(suite)
            total = total + counts
    for key in ("tests", "failures", "errors", "skipped"):
        merged.set(key, str(getattr(total, key)))
    merged.set("time", f"{total.time:.3f}")
    return ET.ElementTree(merged), total


def write_merged(reports: Sequence[Path], destination: Path) -> Totals:
    tree, total = merge(reports)
    destination.parent.mkdir(parents=True, exist_ok=True)
    ET.indent(tree)
    tree.write(destination, encoding="utf-8", xml_declaration=True)
    return total
