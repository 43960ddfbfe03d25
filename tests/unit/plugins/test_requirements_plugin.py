"""The requirements plugin, run by pytester on small generated test trees.

Each planted case (missing or unknown id, a skip, a quality finding) must fail,
and its corrected twin must pass: the gate is shown to be able to fail.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

REGISTRY = """\
requirements:
  - id: A-001
    tier: unit
    statement: adds numbers
  - id: B-001
    tier: integration
    statement: stores a row
"""
GOOD_INTEGRATION = """\
import pytest


@pytest.mark.requirement("B-001")
def test_stores(database):
    assert database.store(2) == 2
"""
CONFTEST = """\
import pytest


class Database:
    def store(self, n):
        return n


@pytest.fixture
def database():
    return Database()
"""


@pytest.fixture(autouse=True)
def _output_as_on_a_laptop(monkeypatch: pytest.MonkeyPatch) -> None:
    """pytest prints untruncated summary lines when CI is set, doubling the lines matched here."""
    for name in ("CI", "BUILD_NUMBER"):
        monkeypatch.delenv(name, raising=False)


def write(pytester: pytest.Pytester, files: dict[str, str]) -> None:
    for name, text in {"tests/requirements.yaml": REGISTRY, **files}.items():
        path = pytester.path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    report = pytester.path / "results.json"
    return pytester.runpytest("--strict-markers", f"--requirements-report={report}", *args)


def errors(result: pytest.RunResult) -> list[str]:
    """The plugin's error lines (they all name tests/...:line)."""
    return [line for line in result.outlines if line.startswith("tests/")]


@pytest.mark.requirement("TRC-002")
def test_marker_is_registered(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--markers")
    result.stdout.fnmatch_lines(["@pytest.mark.requirement(*ids): the requirement ids*"])


@pytest.mark.requirement("TRC-002")
def test_integration_test_without_id_is_a_collection_error(pytester: pytest.Pytester) -> None:
    bare = GOOD_INTEGRATION.replace('@pytest.mark.requirement("B-001")\n', "")
    write(
        pytester, {"tests/integration/conftest.py": CONFTEST, "tests/integration/test_b.py": bare}
    )
    result = run(pytester)
    assert result.ret == pytest.ExitCode.INTERRUPTED
    assert errors(result) == [
        "tests/integration/test_b.py:4: test_stores names no requirement; add @pytest.mark."
        'requirement("ID") with an id from tests/requirements.yaml (integration and e2e tests '
        "must trace to one)"
    ]
    write(pytester, {"tests/integration/test_b.py": GOOD_INTEGRATION})
    run(pytester).assert_outcomes(passed=1)


@pytest.mark.requirement("TRC-002")
@pytest.mark.parametrize("tier", ["unit", "integration", "e2e"])
def test_unknown_id_is_a_collection_error_in_every_tier(
    pytester: pytest.Pytester, tier: str
) -> None:
    planted = GOOD_INTEGRATION.replace("B-001", "B-404")
    write(pytester, {f"tests/{tier}/conftest.py": CONFTEST, f"tests/{tier}/test_b.py": planted})
    result = run(pytester)
    assert result.ret == pytest.ExitCode.INTERRUPTED
    assert errors(result) == [
        f"tests/{tier}/test_b.py:4: test_stores names unknown requirement 'B-404'; "
        "register it in tests/requirements.yaml or fix the id"
    ]
    write(pytester, {f"tests/{tier}/test_b.py": GOOD_INTEGRATION})
    run(pytester).assert_outcomes(passed=1)


@pytest.mark.requirement("TRC-002")
def test_marker_without_id_and_class_level_marker(pytester: pytest.Pytester) -> None:
    source = """\
import pytest

pytestmark = pytest.mark.requirement()


class TestStore:
    def test_stores(self, database):
        assert database.store(1) == 1
"""
    write(
        pytester, {"tests/integration/conftest.py": CONFTEST, "tests/integration/test_c.py": source}
    )
    assert errors(run(pytester)) == [
        "tests/integration/test_c.py:7: test_stores: @pytest.mark.requirement() names no id; "
        'write requirement("ID")'
    ]
    fixed = source.replace("requirement()", 'requirement("B-001")')
    write(pytester, {"tests/integration/test_c.py": fixed})
    run(pytester).assert_outcomes(passed=1)


@pytest.mark.requirement("TRC-002")
def test_unit_tests_need_no_marker(pytester: pytest.Pytester) -> None:
    write(pytester, {"tests/unit/test_a.py": "def test_adds():\n    assert sum([1, 1]) == 2\n"})
    run(pytester).assert_outcomes(passed=1)


@pytest.mark.requirement("TRC-002")
def test_broken_registry_is_reported_where_it_is_needed(pytester: pytest.Pytester) -> None:
    write(pytester, {"tests/integration/conftest.py": CONFTEST,
                     "tests/integration/test_b.py": GOOD_INTEGRATION})  # fmt: skip
    (pytester.path / "tests/requirements.yaml").write_text(REGISTRY.replace("unit", "smoke"))
    result = run(pytester)
    assert result.ret == pytest.ExitCode.INTERRUPTED
    assert errors(result) == [
        "tests/requirements.yaml:2: entry 1 (A-001) has unknown tier 'smoke'; "
        "use unit, integration, e2e"
    ]


SKIPS = {
    "skip-mark": ('@pytest.mark.skip(reason="later")\n', 5, "TQ006", "`pytest.mark.skip`"),
    "skipif-mark": ('@pytest.mark.skipif(True, reason="ci")\n', 5, "TQ006", "`pytest.mark.skipif`"),
    "xfail-mark": ("@pytest.mark.xfail\n", 5, "TQ006", "`pytest.mark.xfail`"),
}


@pytest.mark.requirement("TRC-003")
@pytest.mark.parametrize("case", SKIPS.values(), ids=SKIPS.keys())
def test_skip_and_xfail_marks_are_collection_errors_in_integration(
    pytester: pytest.Pytester, case: tuple[str, int, str, str]
) -> None:
    decorator, line, rule, shown = case
    planted = GOOD_INTEGRATION.replace("def test_stores", decorator + "def test_stores")
    write(pytester, {"tests/integration/conftest.py": CONFTEST,
                     "tests/integration/test_b.py": planted})  # fmt: skip
    result = run(pytester)
    assert result.ret == pytest.ExitCode.INTERRUPTED
    assert [e.split(": ")[:2] for e in errors(result)] == [
        [f"tests/integration/test_b.py:{line}", f"{rule} skip-in-integration"]
    ]
    assert shown in errors(result)[0]
    write(pytester, {"tests/integration/test_b.py": GOOD_INTEGRATION})
    run(pytester).assert_outcomes(passed=1)


@pytest.mark.requirement("TRC-003")
def test_importorskip_and_skip_calls_are_collection_errors(pytester: pytest.Pytester) -> None:
    planted = GOOD_INTEGRATION.replace(
        "import pytest\n", 'import pytest\n\nyaml = pytest.importorskip("not_installed_mod")\n'
    ).replace("    assert", '    pytest.skip("no db")\n    assert')
    write(pytester, {"tests/integration/conftest.py": CONFTEST,
                     "tests/integration/test_b.py": planted})  # fmt: skip
    result = run(pytester)
    assert result.ret == pytest.ExitCode.INTERRUPTED
    assert [e.split(": ")[0] for e in errors(result)] == [
        "tests/integration/test_b.py:3",
        "tests/integration/test_b.py:8",
        "tests/integration/test_b.py:1",  # the module itself was skipped while importing
    ]
    assert (
        "module skipped while importing (could not import 'not_installed_mod'"
        in (errors(result)[2])
    )


@pytest.mark.requirement("TRC-003")
def test_skip_mark_added_by_a_conftest_hook_is_caught(pytester: pytest.Pytester) -> None:
    hook = CONFTEST + (
        "\n\ndef pytest_collection_modifyitems(items):\n"
        "    for item in items:\n"
        '        item.add_marker(pytest.mark.skip(reason="hidden"))\n'
    )
    write(pytester, {"tests/integration/conftest.py": hook,
                     "tests/integration/test_b.py": GOOD_INTEGRATION})  # fmt: skip
    result = run(pytester)
    # Marks added after collection cannot fail collection; they fail the test's setup instead.
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        ["*tests/integration/test_b.py:4: test_stores was skipped during setup (hidden); *"]
    )


RUNTIME_SKIP = CONFTEST.replace(
    "    return Database()", '    pytest.skip("database not reachable at 127.0.0.1:5432")'
)


@pytest.mark.requirement("TRC-003")
def test_skip_at_run_time_is_a_failure_with_its_reason(pytester: pytest.Pytester) -> None:
    write(pytester, {"tests/integration/conftest.py": RUNTIME_SKIP,
                     "tests/integration/test_b.py": GOOD_INTEGRATION})  # fmt: skip
    result = run(pytester)
    result.assert_outcomes(errors=1)  # pytest's word for a failure in setup
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(
        [
            "*tests/integration/test_b.py:4: test_stores was skipped during setup "
            "(database not reachable at 127.0.0.1:5432); a skip in integration tests is a "
            "failure*"
        ]
    )
    write(pytester, {"tests/integration/conftest.py": CONFTEST})
    run(pytester).assert_outcomes(passed=1)


@pytest.mark.requirement("TRC-003")
def test_skip_inside_the_test_body_is_a_failure(pytester: pytest.Pytester) -> None:
    helper = 'import pytest\n\n\ndef require(ok):\n    if not ok:\n        pytest.skip("no S3")\n'
    planted = GOOD_INTEGRATION.replace(
        "import pytest\n", "import pytest\n\nfrom helper import require\n"
    )
    planted = planted.replace("    assert", "    require(False)\n    assert")
    write(pytester, {"tests/integration/conftest.py": CONFTEST,
                     "tests/integration/helper.py": helper,
                     "tests/integration/test_b.py": planted})  # fmt: skip
    result = run(pytester)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*test_stores was skipped during call (no S3)*"])
    write(pytester, {"tests/integration/test_b.py": planted.replace("False", "True")})
    run(pytester).assert_outcomes(passed=1)


@pytest.mark.requirement("TRC-003")
def test_skip_at_run_time_stays_a_skip_in_unit_tests(pytester: pytest.Pytester) -> None:
    write(pytester, {"tests/unit/conftest.py": RUNTIME_SKIP,
                     "tests/unit/test_b.py": GOOD_INTEGRATION})  # fmt: skip
    run(pytester).assert_outcomes(skipped=1)


@pytest.mark.requirement("TRC-007")
def test_quality_finding_fails_collection_of_any_tier(pytester: pytest.Pytester) -> None:
    planted = "import time\n\n\ndef test_adds():\n    time.sleep(0.01)\n    assert sum([1]) == 1\n"
    write(pytester, {"tests/unit/test_a.py": planted})
    result = run(pytester)
    assert result.ret == pytest.ExitCode.INTERRUPTED
    assert [e.split(": ")[:2] for e in errors(result)] == [
        ["tests/unit/test_a.py:5", "TQ003 sleep"]
    ]
    write(pytester, {"tests/unit/test_a.py": planted.replace("    time.sleep(0.01)\n", "")})
    run(pytester).assert_outcomes(passed=1)


@pytest.mark.requirement("TRC-005")
def test_outcomes_are_recorded_per_requirement_and_merged(pytester: pytest.Pytester) -> None:
    write(pytester, {"tests/integration/conftest.py": CONFTEST,
                     "tests/integration/test_b.py": GOOD_INTEGRATION,
                     "tests/unit/test_a.py": '''\
import pytest


@pytest.mark.requirement("A-001")
@pytest.mark.parametrize("n", [1, 2])
def test_adds(n):
    assert n + n == 2
'''})  # fmt: skip
    run(pytester, "tests/unit").assert_outcomes(passed=1, failed=1)
    run(pytester, "tests/integration").assert_outcomes(passed=1)
    recorded = json.loads((pytester.path / "results.json").read_text())["tests"]
    summary = {k: (v["outcome"], v["tier"], v["requirements"]) for k, v in recorded.items()}
    assert summary == {
        "tests/unit/test_a.py::test_adds[1]": ("passed", "unit", ["A-001"]),
        "tests/unit/test_a.py::test_adds[2]": ("failed", "unit", ["A-001"]),
        "tests/integration/test_b.py::test_stores": ("passed", "integration", ["B-001"]),
    }


@pytest.mark.requirement("TRC-005")
def test_outcomes_survive_xdist(pytester: pytest.Pytester) -> None:
    write(pytester, {"tests/integration/conftest.py": CONFTEST,
                     "tests/integration/test_b.py": GOOD_INTEGRATION})  # fmt: skip
    report = pytester.path / "results.json"
    result = pytester.runpytest_subprocess("-n", "2", f"--requirements-report={report}")
    result.assert_outcomes(passed=1)
    recorded = json.loads(report.read_text())["tests"]
    assert recorded["tests/integration/test_b.py::test_stores"]["requirements"] == ["B-001"]


@pytest.mark.requirement("TRC-004")
def test_inventory_mode_records_without_enforcing(pytester: pytest.Pytester) -> None:
    bare = GOOD_INTEGRATION.replace('@pytest.mark.requirement("B-001")\n', "")
    write(pytester, {"tests/integration/conftest.py": CONFTEST,
                     "tests/integration/test_b.py": bare,
                     "tests/unit/test_broken.py": "import not_installed_mod\n"})  # fmt: skip
    inventory = pytester.path / "inventory.json"
    pytester.runpytest(
        "--collect-only", "--continue-on-collection-errors", f"--requirements-inventory={inventory}"
    )
    data = json.loads(Path(inventory).read_text())
    assert data["tests"] == [
        {
            "nodeid": "tests/integration/test_b.py::test_stores",
            "file": "tests/integration/test_b.py",
            "line": 4,
            "name": "test_stores",
            "tier": "integration",
            "requirements": [],
        }
    ]
    assert data["errors"] == [
        {
            "nodeid": "tests/unit/test_broken.py",
            "message": "ModuleNotFoundError: No module named 'not_installed_mod'",
        }
    ]
