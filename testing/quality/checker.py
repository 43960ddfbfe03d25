"""AST checks of test files for tests that cannot fail, wait by sleeping, fake the system or skip.

What counts as an assertion (so helpers do not cause false alarms):

* an ``assert`` statement, ``raise AssertionError``, ``pytest.raises``/``warns``/
  ``deprecated_call``/``fail``;
* a call of a function or method whose name (leading underscores removed) starts
  with ``assert`` (``assert_ready``, ``assertEqual``, ``mock.assert_called_once``),
  ``check_``, ``expect_`` or ``verify_`` (``subprocess.check_output``/``check_call``
  do not count), and pytester's ``fnmatch_lines``/``re_match_lines`` family;
* a call of a function or method defined in the same file that itself asserts
  (transitively), so a local ``_roundtrip()`` helper full of asserts counts.

An existence-only assertion (TQ001: ``x is not None``, ``x != None``,
``len(x) > 0``/``>= 1``/``!= 0``, ``len(x)``, a bare name, attribute or subscript
such as ``result.success``) is forgiven when the same object, or a value derived
from it by assignment or iteration, is also checked by value in the same test, or
is passed to one of the assertion helpers above; a bare name that was assigned a
comparison or a predicate call (``ok = a == b``, ``ready = is_ready(x)``) is a value.

TQ002 is a ``dry_run``/``dryRun`` keyword, assignment or dict key set to a true
constant; TQ003 a call of ``time.sleep`` (however imported); TQ004 a comment with
TODO, FIXME, XXX or TBD, ``todo:``/``fixme:``, or one that starts with "placeholder";
TQ005 an assert of a constant, a non-empty tuple, ``not <constant>``, a comparison
of constants or of an expression with itself; TQ006 ``pytest.mark.skip``/``skipif``/
``xfail``, ``pytest.skip``/``xfail``/``importorskip``, unittest's skip decorators
and ``skipTest``.
"""

from __future__ import annotations

import ast
import io
import re
import tokenize
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from testing.quality.rules import Finding, applies
from testing.traceability.tiers import tier_of

Func = ast.FunctionDef | ast.AsyncFunctionDef

ASSERT_PREFIXES = ("assert", "check_", "expect_", "verify_")
NOT_ASSERTING = frozenset({"check_output", "check_call"})
KNOWN_ASSERTING = frozenset(
    {"fnmatch_lines", "re_match_lines", "no_fnmatch_line", "no_re_match_line"}
)
RAISING = frozenset({"pytest.raises", "pytest.warns", "pytest.deprecated_call", "pytest.fail"})
SKIPPING = frozenset(
    {
        "pytest.skip",
        "pytest.xfail",
        "pytest.importorskip",
        "pytest.mark.skip",
        "pytest.mark.skipif",
        "pytest.mark.xfail",
        "unittest.skip",
        "unittest.skipIf",
        "unittest.skipUnless",
        "unittest.expectedFailure",
    }
)
DRY_RUN_NAMES = frozenset({"dry_run", "dryRun"})
PREDICATES = frozenset(
    {
        "all",
        "any",
        "bool",
        "callable",
        "hasattr",
        "isinstance",
        "issubclass",
        "startswith",
        "endswith",
        "match",
        "fullmatch",
        "search",
        "issubset",
        "issuperset",
        "isdisjoint",
    }
)
PREDICATE_PREFIX = re.compile(r"_*(is|has|can|should)(_|[a-z]+$)")
PLACEHOLDER = re.compile(r"\b(TODO|FIXME|XXX|TBD)\b|\b(?i:todo|fixme)\s*:|^#+\s*(?i:placeholder)\b")


def is_test_module(path: Path) -> bool:
    return path.suffix == ".py" and (path.stem.startswith("test_") or path.stem.endswith("_test"))


def _dotted(node: ast.AST) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        base = _dotted(node.value)
        return f"{base}.{node.attr}" if base else None
    return None


def _last_name(func: ast.expr) -> str | None:
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        return func.attr
    return None


def _is_assert_helper(name: str | None) -> bool:
    if name is None:
        return False
    bare = name.lstrip("_")
    return (bare.startswith(ASSERT_PREFIXES) and bare not in NOT_ASSERTING) or (
        bare in KNOWN_ASSERTING
    )


class Aliases:
    """Map local names to what they were imported as (``pt.skip`` -> ``pytest.skip``)."""

    def __init__(self, tree: ast.AST) -> None:
        self.names: dict[str, str] = {}
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    local = alias.asname or alias.name.split(".")[0]
                    self.names[local] = alias.name if alias.asname else local
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                for alias in node.names:
                    self.names[alias.asname or alias.name] = f"{node.module}.{alias.name}"

    def canonical(self, node: ast.AST) -> str | None:
        dotted = _dotted(node)
        if dotted is None:
            return None
        head, _, rest = dotted.partition(".")
        head = self.names.get(head, head)
        return f"{head}.{rest}" if rest else head


def _subject(expr: ast.expr) -> str:
    """The object an expression is about: ``pod`` for ``pod.status.phase``, ``self.x`` for
    ``self.x[0]``."""
    node: ast.expr = expr
    above: ast.expr | None = None
    while True:
        if isinstance(node, ast.Attribute | ast.Subscript | ast.Starred):
            above, node = node, node.value
        elif isinstance(node, ast.Call):
            above, node = node, node.func
        elif isinstance(node, ast.Await):
            above, node = node, node.value
        else:
            break
    if isinstance(node, ast.Name):
        if node.id in ("self", "cls") and isinstance(above, ast.Attribute):
            return f"{node.id}.{above.attr}"
        return node.id
    return ast.unparse(expr)


def _roots(expr: ast.AST) -> set[str]:
    """Every object an expression reads (names, and ``self.attr`` for attributes of self)."""
    found: set[str] = set()
    for node in ast.walk(expr):
        if isinstance(node, ast.Name):
            found.add(node.id)
        elif (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id in ("self", "cls")
        ):
            found.add(f"{node.value.id}.{node.attr}")
    return found


def _target_names(target: ast.AST) -> list[str]:
    if isinstance(target, ast.Name):
        return [target.id]
    if isinstance(target, ast.Attribute) and isinstance(target.value, ast.Name):
        return [f"{target.value.id}.{target.attr}"]
    if isinstance(target, ast.Tuple | ast.List):
        return [n for elt in target.elts for n in _target_names(elt)]
    if isinstance(target, ast.Starred):
        return _target_names(target.value)
    return []


def _is_predicate(value: ast.expr) -> bool:
    if isinstance(value, ast.Compare | ast.BoolOp):
        return True
    if isinstance(value, ast.UnaryOp) and isinstance(value.op, ast.Not):
        return True
    if isinstance(value, ast.Constant) and isinstance(value.value, bool):
        return True
    if isinstance(value, ast.Call):
        name = _last_name(value.func)
        return name is not None and (name in PREDICATES or bool(PREDICATE_PREFIX.match(name)))
    return False


def _is_len(node: ast.expr) -> ast.expr | None:
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id == "len"
        and len(node.args) == 1
    ):
        return node.args[0]
    return None


def _const(node: ast.expr, *values: object) -> bool:
    return (
        isinstance(node, ast.Constant)
        and not isinstance(node.value, bool)
        and any(node.value == v for v in values)
    )


def _compare_subjects(test: ast.Compare) -> list[str] | None:
    """``x is not None``, ``len(x) > 0`` and their mirrored forms."""
    if len(test.ops) != 1:
        return None
    left, op, right = test.left, test.ops[0], test.comparators[0]
    if isinstance(op, ast.IsNot | ast.NotEq):
        if isinstance(right, ast.Constant) and right.value is None:
            return [_subject(left)]
        if isinstance(left, ast.Constant) and left.value is None:
            return [_subject(right)]
    if (arg := _is_len(left)) is not None and (
        (isinstance(op, ast.Gt | ast.NotEq) and _const(right, 0))
        or (isinstance(op, ast.GtE) and _const(right, 1))
    ):
        return [_subject(arg)]
    if (arg := _is_len(right)) is not None and (
        (isinstance(op, ast.Lt | ast.NotEq) and _const(left, 0))
        or (isinstance(op, ast.LtE) and _const(left, 1))
    ):
        return [_subject(arg)]
    return None


def _existence_subjects(test: ast.expr, boolean_names: set[str]) -> list[str] | None:
    """The objects an assertion only proves to exist, or None if it checks a value."""
    subjects: list[str] | None = None
    if isinstance(test, ast.BoolOp) and isinstance(test.op, ast.And):
        parts = [_existence_subjects(value, boolean_names) for value in test.values]
        subjects = None if any(p is None for p in parts) else [s for p in parts for s in p or []]
    elif isinstance(test, ast.Compare):
        subjects = _compare_subjects(test)
    elif (arg := _is_len(test)) is not None:
        subjects = [_subject(arg)]
    elif isinstance(test, ast.Name):
        subjects = None if test.id in boolean_names else [test.id]
    elif isinstance(test, ast.Attribute | ast.Subscript):
        subjects = [_subject(test)]
    return subjects


def _constant_assert(test: ast.expr) -> bool:
    """True for assertions whose outcome does not depend on the code under test."""
    if isinstance(test, ast.Constant):
        return True
    if isinstance(test, ast.Tuple) and test.elts:
        return True  # `assert (x, "message")` is a non-empty tuple: always true
    if isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not):
        return isinstance(test.operand, ast.Constant)
    if isinstance(test, ast.Compare):
        operands = [test.left, *test.comparators]
        if all(isinstance(o, ast.Constant) for o in operands):
            return True
        calls = any(isinstance(n, ast.Call) for o in operands for n in ast.walk(o))
        if len(operands) == 2 and not calls and isinstance(test.ops[0], ast.Eq | ast.Is):
            return ast.dump(operands[0]) == ast.dump(operands[1])
    return False


def _data_flow(test: Func) -> tuple[dict[str, set[str]], set[str]]:
    """Which names each name was computed from, and which names hold a computed boolean."""
    derived: dict[str, set[str]] = {}
    boolean: set[str] = set()

    def derive(target: ast.AST, source: ast.AST) -> None:
        for name in _target_names(target):
            derived.setdefault(name, set()).update(_roots(source))
            if isinstance(source, ast.expr) and _is_predicate(source):
                boolean.add(name)

    for node in ast.walk(test):
        if isinstance(node, ast.Assign) and node.value is not None:
            for target in node.targets:
                derive(target, node.value)
        elif isinstance(node, ast.AnnAssign | ast.NamedExpr | ast.AugAssign):
            if node.value is not None:
                derive(node.target, node.value)
        elif isinstance(node, ast.For | ast.AsyncFor | ast.comprehension):
            derive(node.target, node.iter)
        elif isinstance(node, ast.withitem) and node.optional_vars is not None:
            derive(node.optional_vars, node.context_expr)
    return derived, boolean


@dataclass
class FileReport:
    path: str
    tier: str | None
    tests: int = 0
    findings: list[Finding] = field(default_factory=list)


class _Checker:
    def __init__(self, tree: ast.Module, path: str, tier: str | None, test_module: bool) -> None:
        self.tree = tree
        self.path = path
        self.tier = tier
        self.test_module = test_module
        self.aliases = Aliases(tree)
        self.findings: list[Finding] = []
        self.local_funcs = self._local_functions()
        self.asserting = self._asserting_functions()

    def add(self, rule: str, node: ast.AST | int, detail: str) -> None:
        if applies(rule, self.tier):
            line = node if isinstance(node, int) else getattr(node, "lineno", 1)
            self.findings.append(Finding(rule, self.path, line, detail))

    # -- what asserts -------------------------------------------------------------------
    def _local_functions(self) -> dict[str, list[Func]]:
        funcs: dict[str, list[Func]] = {}
        for node in ast.walk(self.tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                funcs.setdefault(node.name, []).append(node)
        return funcs

    def _checks_directly(self, call: ast.Call) -> bool:
        return self.aliases.canonical(call.func) in RAISING or _is_assert_helper(
            _last_name(call.func)
        )

    def _is_check(self, node: ast.AST, *, local: bool) -> bool:
        """An assert, ``raise AssertionError``, or a call that checks (``local``: or a
        call of a same-file function that asserts)."""
        if isinstance(node, ast.Assert):
            return True
        if isinstance(node, ast.Raise) and node.exc is not None:
            exc = node.exc.func if isinstance(node.exc, ast.Call) else node.exc
            return _last_name(exc) == "AssertionError"
        if isinstance(node, ast.Call):
            return self._checks_directly(node) or (
                local and _last_name(node.func) in self.asserting
            )
        return False

    def _direct(self, func: Func) -> bool:
        return any(self._is_check(node, local=False) for node in ast.walk(func))

    def _calls(self, func: Func) -> set[str]:
        called: set[str] = set()
        for node in ast.walk(func):
            if isinstance(node, ast.Call):
                name = _last_name(node.func)
                if name in self.local_funcs:
                    called.add(name)
        return called

    def _asserting_functions(self) -> set[str]:
        asserting = {
            name for name, defs in self.local_funcs.items() if any(self._direct(d) for d in defs)
        }
        calls = {
            name: set[str]().union(*(self._calls(d) for d in defs))
            for name, defs in self.local_funcs.items()
        }
        changed = True
        while changed:
            changed = False
            for name, called in calls.items():
                if name not in asserting and called & asserting:
                    asserting.add(name)
                    changed = True
        return asserting

    # -- rules over the whole file ---------------------------------------------------------
    def file_rules(self) -> None:
        for node in ast.walk(self.tree):
            if isinstance(node, ast.Call):
                self._call_rules(node)
            elif isinstance(node, ast.Attribute | ast.Name):
                if self.aliases.canonical(node) in SKIPPING:
                    self.add("TQ006", node, f"`{ast.unparse(node)}` skips or xfails")
            elif isinstance(node, ast.Assign) and self._truthy(node.value):
                for target in node.targets:
                    if isinstance(target, ast.Name) and target.id in DRY_RUN_NAMES:
                        self.add("TQ002", node, f"`{target.id} = {ast.unparse(node.value)}`")
            elif isinstance(node, ast.Dict):
                for key, value in zip(node.keys, node.values, strict=True):
                    named = isinstance(key, ast.Constant) and key.value in DRY_RUN_NAMES
                    if named and key is not None and self._truthy(value):
                        self.add("TQ002", key, f"`{ast.unparse(key)}: {ast.unparse(value)}`")
            elif isinstance(node, ast.Assert) and _constant_assert(node.test):
                self.add("TQ005", node, f"`assert {_short(node.test)}` cannot fail")

    def _call_rules(self, node: ast.Call) -> None:
        if self.aliases.canonical(node.func) == "time.sleep":
            self.add("TQ003", node, "`time.sleep(...)` waits a fixed time")
        if isinstance(node.func, ast.Attribute) and node.func.attr == "skipTest":
            self.add("TQ006", node, "`skipTest(...)` skips the test")
        for kw in node.keywords:
            if kw.arg in DRY_RUN_NAMES and self._truthy(kw.value):
                self.add("TQ002", kw.value, f"`{kw.arg}={ast.unparse(kw.value)}`")

    @staticmethod
    def _truthy(value: ast.expr) -> bool:
        return isinstance(value, ast.Constant) and bool(value.value)

    # -- rules per test function -----------------------------------------------------------
    def tests(self) -> Iterator[Func]:
        if not self.test_module:
            return

        def walk(body: list[ast.stmt]) -> Iterator[Func]:
            for node in body:
                if isinstance(
                    node, ast.FunctionDef | ast.AsyncFunctionDef
                ) and node.name.startswith("test"):
                    yield node
                elif isinstance(node, ast.ClassDef) and node.name.startswith("Test"):
                    yield from walk(node.body)

        yield from walk(self.tree.body)

    def test_rules(self, test: Func) -> None:
        if not any(self._is_check(node, local=True) for node in ast.walk(test)):
            self.add("TQ007", test, f"`{test.name}` has no assertion and no pytest.raises")
            return
        self._existence_only(test)

    def _existence_only(self, test: Func) -> None:
        derived, boolean = _data_flow(test)
        checked: set[str] = set()
        weak: list[tuple[ast.Assert, list[str]]] = []
        for node in ast.walk(test):
            if isinstance(node, ast.Assert):
                subjects = _existence_subjects(node.test, boolean)
                if subjects is None:
                    checked |= _roots(node.test)
                else:
                    weak.append((node, subjects))
            elif isinstance(node, ast.Call) and self._is_check(node, local=True):
                checked |= _roots(node)
        # A value check of something derived from an object checks that object too.
        while (grown := checked.union(*(derived.get(n, set()) for n in checked))) != checked:
            checked = grown
        for node, subjects in weak:
            for subject in dict.fromkeys(subjects):
                if subject not in checked:
                    self.add(
                        "TQ001",
                        node,
                        f"`assert {_short(node.test)}` checks existence only, and nothing "
                        f"in the test checks a value of `{subject}`",
                    )

    def run(self) -> tuple[int, list[Finding]]:
        self.file_rules()
        count = 0
        for test in self.tests():
            count += 1
            self.test_rules(test)
        return count, self.findings


def _short(node: ast.expr, limit: int = 60) -> str:
    text = ast.unparse(node)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _comment_findings(source: str, path: str) -> list[Finding]:
    findings: list[Finding] = []
    try:
        for token in tokenize.generate_tokens(io.StringIO(source).readline):
            if token.type == tokenize.COMMENT and PLACEHOLDER.search(token.string):
                text = token.string if len(token.string) <= 60 else token.string[:57] + "..."
                findings.append(Finding("TQ004", path, token.start[0], f"comment `{text}`"))
    except (tokenize.TokenError, SyntaxError):
        pass  # the AST parse reports the syntax error
    return findings


def check_source(source: str, path: str, tier: str | None, *, test_module: bool) -> FileReport:
    """Check one file's ``source``; ``path`` is how findings name it."""
    report = FileReport(path, tier)
    try:
        tree = ast.parse(source, filename=path)
    except SyntaxError as exc:
        report.findings.append(Finding("TQ000", path, exc.lineno or 1, f"syntax error: {exc.msg}"))
        return report
    report.tests, report.findings = _Checker(tree, path, tier, test_module).run()
    report.findings += _comment_findings(source, path)
    report.findings.sort(key=lambda f: (f.line, f.rule))
    return report


def check_file(path: Path, root: Path) -> FileReport:
    """Check the file at ``path``; its tier comes from where it lies under ``root``."""
    try:
        shown = str(path.resolve().relative_to(root.resolve()))
    except ValueError:
        shown = str(path)
    source = path.read_text(encoding="utf-8")
    return check_source(source, shown, tier_of(path, root), test_module=is_test_module(path))


def discover(paths: list[Path]) -> list[Path]:
    """Python files under ``paths`` (files are taken as given), sorted, caches skipped."""
    found: set[Path] = set()
    for path in paths:
        if path.is_file():
            found.add(path)
        else:
            found.update(p for p in path.rglob("*.py") if "__pycache__" not in p.parts)
    return sorted(found)
