"""Every quality rule fires on a planted case and stays silent on its corrected twin.

The sources are small generated test files checked in memory; the CLI tests
write them under tmp_path so tiers come from real paths, as in the repository.
"""

from __future__ import annotations

import textwrap

import pytest

from testing.quality.checker import FileReport, check_source
from testing.quality.rules import RULES, Finding
from testing.quality.score import score_tiers

pytestmark = pytest.mark.requirement("TRC-006")


def check(source: str, tier: str = "integration") -> list[tuple[str, int]]:
    report = check_source(textwrap.dedent(source), "tests/x/test_x.py", tier, test_module=True)
    return [(f.rule, f.line) for f in report.findings]


# (rule, tier, planted source, corrected twin, line of the planted finding)
CASES = [
    pytest.param(
        "TQ001",
        "unit",
        """
        def test_it():
            pod = make()
            assert pod is not None
        """,
        """
        def test_it():
            pod = make()
            assert pod is not None
            assert pod.status.phase == "Running"
        """,
        4,
        id="existence-is-not-none",
    ),
    pytest.param(
        "TQ001",
        "unit",
        """
        def test_it():
            rows = query()
            assert len(rows) > 0
        """,
        """
        def test_it():
            rows = query()
            assert len(rows) == 3
        """,
        4,
        id="existence-len-positive",
    ),
    pytest.param(
        "TQ001",
        "unit",
        """
        def test_it(client):
            result = client.run()
            assert result.success
        """,
        """
        def test_it(client):
            result = client.run()
            assert result.success
            assert result.output == "created"
        """,
        4,
        id="existence-result-success",
    ),
    pytest.param(
        "TQ001",
        "unit",
        """
        def test_it():
            body = fetch()
            assert body
        """,
        """
        def test_it():
            body = fetch()
            data = body.json()
            assert body
            assert data["name"] == "x"
        """,
        4,
        id="existence-bare-name-value-via-derived",
    ),
    pytest.param(
        "TQ002",
        "integration",
        """
        def test_it(client):
            out = client.apply(manifest, dry_run=True)
            assert out.kind == "Pod"
        """,
        """
        def test_it(client):
            out = client.apply(manifest)
            assert out.kind == "Pod"
        """,
        3,
        id="dry-run-keyword",
    ),
    pytest.param(
        "TQ002",
        "e2e",
        """
        def test_it(run):
            options = {"dry_run": True}
            assert run(options) == 0
        """,
        """
        def test_it(run):
            options = {"dry_run": False}
            assert run(options) == 0
        """,
        3,
        id="dry-run-dict",
    ),
    pytest.param(
        "TQ003",
        "unit",
        """
        import time

        def test_it():
            time.sleep(0.1)
            assert ready() == 1
        """,
        """
        import time
        from testing.polling import wait_for_condition

        def test_it():
            assert wait_for_condition(ready, timeout=1, description="ready", sleep=time.sleep) == 1
        """,
        5,
        id="sleep",
    ),
    pytest.param(
        "TQ003",
        "unit",
        """
        from time import sleep as pause

        def test_it():
            pause(1)
            assert ready() == 1
        """,
        """
        from time import sleep as pause

        def test_it():
            assert ready(pause) == 1
        """,
        5,
        id="sleep-aliased",
    ),
    pytest.param(
        "TQ004",
        "unit",
        """
        def test_it():
            # TODO: check the labels too
            assert value() == 2
        """,
        """
        def test_it():
            # labels are checked in test_labels
            assert value() == 2
        """,
        3,
        id="todo-comment",
    ),
    pytest.param(
        "TQ004",
        "unit",
        """
        def test_it():
            assert value() == 2  # placeholder until the API exists
        """,
        """
        def test_it():
            assert value() == 2  # the API returns two replicas
        """,
        3,
        id="placeholder-comment",
    ),
    pytest.param(
        "TQ005",
        "unit",
        """
        def test_it():
            run()
            assert True
        """,
        """
        def test_it():
            assert run() is True
        """,
        4,
        id="assert-true",
    ),
    pytest.param(
        "TQ005",
        "unit",
        """
        def test_it():
            assert (run() == 1, "run returns 1")
        """,
        """
        def test_it():
            assert run() == 1, "run returns 1"
        """,
        3,
        id="assert-tuple",
    ),
    pytest.param(
        "TQ006",
        "integration",
        """
        import pytest

        @pytest.mark.skipif(True, reason="no cluster")
        def test_it():
            assert run() == 1
        """,
        """
        import pytest

        @pytest.mark.requirement("X-1")
        def test_it():
            assert run() == 1
        """,
        4,
        id="skipif-mark",
    ),
    pytest.param(
        "TQ006",
        "e2e",
        """
        import pytest

        def test_it():
            psycopg = pytest.importorskip("psycopg")
            assert psycopg.connect().info.dbname == "app"
        """,
        """
        import psycopg

        def test_it():
            assert psycopg.connect().info.dbname == "app"
        """,
        5,
        id="importorskip",
    ),
    pytest.param(
        "TQ006",
        "integration",
        """
        from pytest import xfail

        def test_it():
            xfail("flaky")
            assert run() == 1
        """,
        """
        def test_it():
            assert run() == 1
        """,
        5,
        id="xfail-call",
    ),
    pytest.param(
        "TQ007",
        "unit",
        """
        def test_it():
            run()
        """,
        """
        def test_it():
            assert run() == 0
        """,
        2,
        id="no-assertion",
    ),
]


@pytest.mark.parametrize(("rule", "tier", "planted", "twin", "line"), CASES)
def test_rule_fires_on_planted_case_and_not_on_twin(
    rule: str, tier: str, planted: str, twin: str, line: int
) -> None:
    assert check(planted, tier) == [(rule, line)]
    assert check(twin, tier) == []


def test_every_rule_has_a_planted_case() -> None:
    planted = {case.values[0] for case in CASES}
    assert planted == set(RULES) - {"TQ000"}


@pytest.mark.parametrize("rule", ["TQ002", "TQ006"])
def test_gated_rules_leave_unit_tests_alone(rule: str) -> None:
    source = next(c.values[2] for c in CASES if c.values[0] == rule)
    assert check(str(source), "integration") != []
    assert check(str(source), "unit") == []


def test_unparsable_file_is_a_finding() -> None:
    assert check("def test_it(:\n    assert 1 == run()\n") == [("TQ000", 1)]


def test_finding_line_names_rule_location_why_and_fix() -> None:
    report = check_source(
        "def test_it():\n    run()\n", "tests/unit/test_a.py", "unit", test_module=True
    )
    assert [str(f) for f in report.findings] == [
        "tests/unit/test_a.py:1: TQ007 no-assertion: `test_it` has no assertion and no "
        f"pytest.raises; why: {RULES['TQ007'].why}; fix: {RULES['TQ007'].fix}"
    ]


NO_FALSE_ALARMS = {
    "pytest-raises-is-the-check": """
        import pytest

        def test_it():
            with pytest.raises(ValueError, match="bad"):
                parse("x")
        """,
    "assert-helper-from-elsewhere": """
        from helpers import assert_pod_ready, check_rows, expect_event

        def test_a(pod):
            assert_pod_ready(pod)

        def test_b(db):
            check_rows(db, 3)

        def test_c(events):
            expect_event(events, "Created")
        """,
    "local-helper-that-asserts-transitively": """
        def _roundtrip(value):
            assert decode(encode(value)) == value

        def _roundtrip_all(values):
            for value in values:
                _roundtrip(value)

        def test_it():
            _roundtrip_all([1, 2, 3])
        """,
    "method-helper-on-self": """
        class TestThing:
            def verify(self, x):
                assert x.size == 2

            def test_it(self):
                self.verify(make())
        """,
    "unittest-and-mock-assertions": """
        import unittest
        from unittest import mock

        class TestThing(unittest.TestCase):
            def test_equal(self):
                self.assertEqual(run(), 3)

            def test_called(self):
                hook = mock.Mock()
                run(hook)
                hook.assert_called_once_with(3)
        """,
    "pytester-line-matching": """
        def test_it(pytester):
            result = pytester.runpytest()
            result.stdout.fnmatch_lines(["*1 passed*"])
        """,
    "existence-then-value-of-same-object": """
        def test_it(api):
            pod = api.read("web")
            assert pod is not None
            assert pod.metadata.labels["app"] == "web"
        """,
    "existence-and-value-through-loop": """
        def test_it(api):
            pods = api.list()
            assert pods
            for pod in pods:
                assert pod.status.phase == "Running"
        """,
    "boolean-computed-then-asserted": """
        def test_it(a, b):
            same = a.digest() == b.digest()
            ready = is_ready(a)
            assert same
            assert ready
        """,
    "existence-with-helper-checking-value": """
        from helpers import assert_matches

        def test_it(api):
            secret = api.read_secret("db")
            assert secret is not None
            assert_matches(secret, {"user": "app"})
        """,
    "self-attribute-checked-by-value": """
        class TestIt:
            def test_it(self):
                self.items = load()
                assert len(self.items) > 0
                assert self.items[0] == "first"
        """,
    "sleep-passed-not-called": """
        import time

        def test_it():
            assert wait(ready, sleep=time.sleep) is True
        """,
    "skip-in-unit-tier-is-allowed": """
        import pytest

        @pytest.mark.skipif(True, reason="only on Windows")
        def test_it():
            assert run() == 1
        """,
    "stub-and-placeholder-as-ordinary-words": """
        def test_it(server):
            # stub server that answers 500, and a placeholder-free manifest
            assert server.get("/").status == 500
        """,
    "word-todo-in-a-string-is-not-a-comment": """
        def test_it():
            assert parse("# TODO: x") == ["TODO"]
        """,
    "non-test-functions-need-no-assert": """
        def make_pod():
            return {"kind": "Pod"}

        def test_it():
            assert make_pod()["kind"] == "Pod"
        """,
}


@pytest.mark.parametrize("source", NO_FALSE_ALARMS.values(), ids=NO_FALSE_ALARMS.keys())
def test_no_false_alarm(source: str) -> None:
    assert check(source, "unit") == []


def test_helper_files_are_checked_for_sleep_but_not_for_assertions() -> None:
    source = "import time\n\ndef settle():\n    time.sleep(1)\n\ndef test_like_name():\n    pass\n"
    report = check_source(source, "tests/integration/helpers.py", "integration", test_module=False)
    assert [(f.rule, f.line) for f in report.findings] == [("TQ003", 4)]
    assert report.tests == 0


def test_score_weights_findings_by_tests_in_tier() -> None:
    def report(tier: str, tests: int, rules: list[str]) -> FileReport:
        path = f"tests/{tier}/test_a.py"
        return FileReport(path, tier, tests, [Finding(rule, path, 1, "planted") for rule in rules])

    scores = score_tiers(
        [
            report("unit", 4, []),
            report("integration", 3, ["TQ007"]),
            report("integration", 1, ["TQ001"]),
            report("e2e", 1, ["TQ005", "TQ003"]),
            report("other", 0, ["TQ004"]),
        ]
    )
    assert [(s.tier, s.tests, s.findings, s.score) for s in scores] == [
        ("unit", 4, 0, 100),
        ("integration", 4, 2, 69),  # 100 * (1 - (100 + 25) / (100 * 4)) = 68.75
        ("e2e", 1, 2, 0),  # floored at 0
        ("other", 0, 1, 90),  # a tier without tests counts as one
    ]
