"""The coverage matrix: measured against the registry, so an untested promise fails the gate."""

from __future__ import annotations

from pathlib import Path

import pytest

from testing.traceability.inventory import CollectedTest, Inventory
from testing.traceability.matrix import build_matrix
from testing.traceability.registry import parse_registry
from testing.traceability.report import to_json, to_markdown

REGISTRY = parse_registry(
    """\
requirements:
  - id: U-001
    tier: unit
    statement: parses the pin file
  - id: I-001
    tier: integration
    statement: creates a namespace | and deletes it
  - id: E-001
    tier: e2e
    statement: the demo runs end to end
""",
    Path("tests/requirements.yaml"),
)


def collected(name: str, tier: str, *ids: str, line: int = 3) -> CollectedTest:
    return CollectedTest(f"tests/{tier}/test_{name}.py::{name}", f"tests/{tier}/test_{name}.py",
                         line, name, tier, ids)  # fmt: skip


FULL = [
    collected("pins", "unit", "U-001"),
    collected("ns", "integration", "I-001"),
    collected("demo", "e2e", "E-001", "U-001"),
]


@pytest.mark.requirement("TRC-004")
def test_full_coverage_passes() -> None:
    matrix = build_matrix(REGISTRY, Inventory(FULL), {})
    assert matrix.passed is True
    assert (matrix.coverage.covered, matrix.coverage.total) == (3, 3)
    assert matrix.problems() == []
    assert [(r.requirement.id, [t.test.name for t in r.tests]) for r in matrix.rows] == [
        ("U-001", ["pins", "demo"]),
        ("I-001", ["ns"]),
        ("E-001", ["demo"]),
    ]


@pytest.mark.requirement("TRC-004")
def test_registered_requirement_without_test_fails() -> None:
    matrix = build_matrix(REGISTRY, Inventory(FULL[:2]), {})
    assert matrix.passed is False
    assert matrix.coverage.percent == pytest.approx(200 / 3)
    assert matrix.problems() == [
        'E-001 [e2e] has no test: "the demo runs end to end"; mark the test that verifies it '
        'with @pytest.mark.requirement("E-001")',
        "coverage 66.7% (2/3 registered requirements have a test) is below the threshold 100%",
    ]


@pytest.mark.requirement("TRC-004")
def test_threshold_is_configurable_and_uncovered_becomes_a_warning() -> None:
    matrix = build_matrix(REGISTRY, Inventory(FULL[:2]), {}, threshold=60)
    assert matrix.passed is True
    assert matrix.problems() == [
        'warning: E-001 [e2e] has no test: "the demo runs end to end"; mark the test that '
        'verifies it with @pytest.mark.requirement("E-001")'
    ]
    assert build_matrix(REGISTRY, Inventory(FULL[:2]), {}, threshold=70).passed is False


@pytest.mark.requirement("TRC-004")
def test_unknown_id_fails_whatever_the_threshold() -> None:
    tests = [*FULL, collected("extra", "unit", "U-999", line=9)]
    tests += [collected("extra", "unit", "U-999", line=9)]  # a parametrised twin: reported once
    matrix = build_matrix(REGISTRY, Inventory(tests), {}, threshold=0)
    assert matrix.passed is False
    assert matrix.problems() == [
        "tests/unit/test_extra.py:9: extra names unknown requirement 'U-999'; "
        "register it in the registry or fix the id"
    ]


@pytest.mark.requirement("TRC-004")
def test_unmarked_integration_test_fails_but_unmarked_unit_test_does_not() -> None:
    unit_only = build_matrix(REGISTRY, Inventory([*FULL, collected("helper", "unit")]), {})
    assert unit_only.passed is True
    matrix = build_matrix(REGISTRY, Inventory([*FULL, collected("bare", "e2e", line=7)]), {})
    assert matrix.passed is False
    assert matrix.problems() == [
        "tests/e2e/test_bare.py:7: bare names no requirement; e2e tests need "
        '@pytest.mark.requirement("ID") with an id from the registry'
    ]


@pytest.mark.requirement("TRC-004")
def test_collection_error_fails_because_its_tests_are_invisible() -> None:
    inventory = Inventory(FULL, errors=[("tests/e2e/test_x.py", "ImportError: no module y")])
    matrix = build_matrix(REGISTRY, inventory, {})
    assert matrix.passed is False
    assert matrix.problems() == [
        "tests/e2e/test_x.py: failed to collect (ImportError: no module y); "
        "its tests are missing from the matrix"
    ]


@pytest.mark.requirement("TRC-004")
def test_coverage_per_tier_and_cheaper_tier_note() -> None:
    tests = [collected("pins", "unit", "U-001"), collected("ns_unit", "unit", "I-001")]
    matrix = build_matrix(REGISTRY, Inventory(tests), {}, threshold=50)
    tiers = {t: (c.covered, c.total) for t, c in matrix.tier_coverage().items()}
    assert tiers == {"unit": (1, 1), "integration": (1, 1), "e2e": (0, 1)}
    assert matrix.notes == ["I-001 (integration) is tested only by unit tests"]


@pytest.mark.requirement("TRC-005")
def test_status_comes_from_the_last_results() -> None:
    results = {
        FULL[0].nodeid: {"outcome": "passed"},
        FULL[1].nodeid: {"outcome": "failed"},
    }
    matrix = build_matrix(REGISTRY, Inventory(FULL), results)
    assert [(r.requirement.id, r.status) for r in matrix.rows] == [
        ("U-001", "partly run"),  # pins passed, demo not run
        ("I-001", "failed"),
        ("E-001", "not run"),
    ]
    assert matrix.passed is True  # test failures fail their own session, not this gate


@pytest.mark.requirement("TRC-005")
def test_markdown_and_json_show_requirement_tests_and_last_result() -> None:
    results = {FULL[1].nodeid: {"outcome": "passed"}}
    matrix = build_matrix(REGISTRY, Inventory(FULL[:2]), results)
    markdown = to_markdown(matrix, results_note="Last results from `r.json`.")
    assert markdown.splitlines()[:4] == [
        "## Requirement traceability",
        "",
        "**FAIL**: 2/3 registered requirements have at least one test (66.7%, threshold 100%).",
        "",
    ]
    assert (
        "| I-001 | integration | creates a namespace \\| and deletes it | "
        "`tests/integration/test_ns.py::ns` (passed) | passed |"
    ) in markdown
    assert "| U-001 | unit | parses the pin file | `tests/unit/test_pins.py::pins` (not run) |" in (
        markdown
    )
    assert "| E-001 | e2e | the demo runs end to end | - | no test |" in markdown
    assert "| unit | 1 | 1 | 100.0% |" in markdown
    data = to_json(matrix)
    assert data["passed"] is False
    assert data["coverage"] == {"covered": 2, "total": 3, "percent": pytest.approx(200 / 3)}
    assert data["requirements"][1] == {
        "id": "I-001",
        "tier": "integration",
        "statement": "creates a namespace | and deletes it",
        "status": "passed",
        "tests": [{"nodeid": FULL[1].nodeid, "tier": "integration", "outcome": "passed"}],
    }
