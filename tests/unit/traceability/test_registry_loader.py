"""The registry loader: a valid file loads in order; each defect is one line with file:line."""

from __future__ import annotations

from pathlib import Path

import pytest

from testing.traceability.registry import RegistryError, load_registry, parse_registry

pytestmark = pytest.mark.requirement("TRC-001")

VALID = """\
requirements:
  - id: CLU-001
    tier: integration
    statement: a cluster is created or reused
  - id: DEMO-010
    tier: e2e
    statement: the demo shows three data products
"""


def errors(text: str) -> list[str]:
    with pytest.raises(RegistryError) as caught:
        parse_registry(text, Path("reg.yaml"))
    return caught.value.lines


def test_valid_registry_loads_every_field_in_file_order() -> None:
    registry = parse_registry(VALID, Path("reg.yaml"))
    assert [(r.id, r.tier, r.statement, r.line) for r in registry] == [
        ("CLU-001", "integration", "a cluster is created or reused", 2),
        ("DEMO-010", "e2e", "the demo shows three data products", 5),
    ]
    assert registry.ids == {"CLU-001", "DEMO-010"}
    assert "CLU-001" in registry
    assert "CLU-002" not in registry


@pytest.mark.parametrize(
    ("planted", "expected"),
    [
        pytest.param(
            VALID + "  - id: CLU-001\n    tier: unit\n    statement: again\n",
            "reg.yaml:8: duplicate requirement id 'CLU-001' (first defined at line 2); "
            "give each promise its own id",
            id="duplicate-id",
        ),
        pytest.param(
            VALID.replace("tier: e2e", "tier: smoke"),
            "reg.yaml:5: entry 2 (DEMO-010) has unknown tier 'smoke'; use unit, integration, e2e",
            id="unknown-tier",
        ),
        pytest.param(
            VALID.replace("    statement: a cluster is created or reused\n", ""),
            "reg.yaml:2: entry 1 (CLU-001) has no statement",
            id="missing-statement",
        ),
        pytest.param(
            VALID.replace("statement: a cluster is created or reused", "statement:"),
            "reg.yaml:2: entry 1 (CLU-001) has no statement",
            id="empty-statement",
        ),
        pytest.param(
            VALID.replace("    tier: integration\n", "    tier: integration\n    owner: me\n"),
            "reg.yaml:4: unknown key 'owner' in entry 1; allowed keys: id, tier, statement",
            id="unknown-key",
        ),
        pytest.param(
            VALID.replace("id: CLU-001", "id: clu_1"),
            "reg.yaml:2: id 'clu_1' does not look like PREFIX-123",
            id="malformed-id",
        ),
        pytest.param(
            "requirements: []\n",
            "reg.yaml:1: needs a non-empty 'requirements:' list",
            id="empty",
        ),
        pytest.param(
            "requirements:\n  - id: A-1\n    tier: [unit\n",
            "reg.yaml:4: not valid YAML: expected ',' or ']', but got '<stream end>'",
            id="bad-yaml",
        ),
        pytest.param(
            "requirements:\n  - just a string\n",
            "reg.yaml:2: entry 1 is not a mapping with id, tier, statement",
            id="entry-not-mapping",
        ),
        pytest.param(
            VALID + "owners: []\n",
            "reg.yaml:8: unknown top-level key 'owners'",
            id="unknown-top-level-key",
        ),
    ],
)
def test_planted_defect_is_one_line_naming_file_and_line(planted: str, expected: str) -> None:
    assert errors(planted) == [expected]


def test_every_defect_is_reported_in_one_pass() -> None:
    planted = VALID.replace("tier: e2e", "tier: smoke") + (
        "  - id: CLU-001\n    tier: unit\n    statement: again\n  - id: NET-001\n    tier: unit\n"
    )
    assert errors(planted) == [
        "reg.yaml:5: entry 2 (DEMO-010) has unknown tier 'smoke'; use unit, integration, e2e",
        "reg.yaml:8: duplicate requirement id 'CLU-001' (first defined at line 2); "
        "give each promise its own id",
        "reg.yaml:11: entry 4 (NET-001) has no statement",
    ]


def test_missing_file_says_how_to_point_at_one(tmp_path: Path) -> None:
    with pytest.raises(RegistryError) as caught:
        load_registry(tmp_path / "nope.yaml")
    assert caught.value.lines == [
        f"{tmp_path / 'nope.yaml'}: requirement registry not found; "
        "create it or set TEST_REQUIREMENTS_REGISTRY"
    ]


def test_the_repository_registry_is_valid_and_holds_these_gates() -> None:
    registry = load_registry(Path(__file__).parents[2] / "requirements.yaml")
    gates = {r.id: r.tier for r in registry if r.id.startswith("TRC-")}
    assert gates == {f"TRC-00{n}": "unit" for n in range(1, 8)}
