"""The requirement registry: every promise the project makes, one id, tier and statement each.

Coverage is measured against this file, never against the ids that happen to
appear in tests; otherwise a promise nobody tests would simply be absent from
the denominator. The loader is strict because the registry is edited by many
hands: a duplicate id, an unknown tier, a missing statement or an unknown key
is one error line naming the file and line, and every such line is reported at
once so a fix is one round trip.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import yaml

from testing.traceability.tiers import TIERS

#: The registry the project ships, relative to the repository root.
DEFAULT_REGISTRY = Path("tests/requirements.yaml")
#: Overrides the registry path for the plugin and the CLI.
REGISTRY_ENV = "TEST_REQUIREMENTS_REGISTRY"

#: ``PREFIX-123``: an upper-case prefix (letters, digits) and a number.
ID_PATTERN = re.compile(r"[A-Z][A-Z0-9]*-[0-9]+")
FIELDS = ("id", "tier", "statement")


class RegistryError(ValueError):
    """The registry cannot be trusted; ``lines`` holds one actionable line per problem."""

    def __init__(self, lines: list[str]) -> None:
        self.lines = lines
        super().__init__("\n".join(lines))


@dataclass(frozen=True)
class Requirement:
    id: str
    tier: str
    statement: str
    line: int


@dataclass(frozen=True)
class Registry:
    path: Path
    requirements: tuple[Requirement, ...]

    def __contains__(self, requirement_id: object) -> bool:
        return any(r.id == requirement_id for r in self.requirements)

    def __iter__(self) -> Iterator[Requirement]:
        return iter(self.requirements)

    def __len__(self) -> int:
        return len(self.requirements)

    @property
    def ids(self) -> frozenset[str]:
        return frozenset(r.id for r in self.requirements)


def _scalar(node: yaml.Node) -> str | None:
    """The text of a non-null scalar node, else None."""
    if isinstance(node, yaml.ScalarNode) and node.tag != "tag:yaml.org,2002:null":
        return str(node.value)
    return None


def _entry(
    node: yaml.Node, where: str, index: int, errors: list[str]
) -> tuple[dict[str, str], int] | None:
    line = node.start_mark.line + 1
    if not isinstance(node, yaml.MappingNode):
        errors.append(f"{where}:{line}: entry {index} is not a mapping with id, tier, statement")
        return None
    fields: dict[str, str] = {}
    for key_node, value_node in node.value:
        key = _scalar(key_node) or "?"
        key_line = key_node.start_mark.line + 1
        if key not in FIELDS:
            errors.append(
                f"{where}:{key_line}: unknown key {key!r} in entry {index}; "
                f"allowed keys: {', '.join(FIELDS)}"
            )
            continue
        if key in fields:
            errors.append(f"{where}:{key_line}: key {key!r} appears twice in entry {index}")
            continue
        value = _scalar(value_node)
        if value is None:
            continue  # reported below as missing
        fields[key] = value.strip()
    return fields, line


def _check(fields: dict[str, str], where: str, line: int, index: int, errors: list[str]) -> bool:
    label = f"entry {index}" + (f" ({fields['id']})" if fields.get("id") else "")
    ok = True
    for name in FIELDS:
        if not fields.get(name):
            errors.append(f"{where}:{line}: {label} has no {name}")
            ok = False
    rid, tier, statement = fields.get("id"), fields.get("tier"), fields.get("statement")
    if rid and not ID_PATTERN.fullmatch(rid):
        errors.append(f"{where}:{line}: id {rid!r} does not look like PREFIX-123")
        ok = False
    if tier and tier not in TIERS:
        errors.append(f"{where}:{line}: {label} has unknown tier {tier!r}; use {', '.join(TIERS)}")
        ok = False
    if statement and "\n" in statement:
        errors.append(f"{where}:{line}: {label} statement spans several lines; keep it to one")
        ok = False
    return ok


def parse_registry(text: str, path: Path) -> Registry:
    """Parse registry ``text``; raise :class:`RegistryError` listing every problem."""
    where = str(path)
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f":{mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise RegistryError([f"{where}{at}: not valid YAML: {problem}"]) from None
    entries: yaml.Node | None = None
    if isinstance(root, yaml.MappingNode):
        for key_node, value_node in root.value:
            if _scalar(key_node) == "requirements":
                entries = value_node
            else:
                key_line = key_node.start_mark.line + 1
                raise RegistryError(
                    [f"{where}:{key_line}: unknown top-level key {_scalar(key_node)!r}"]
                )
    if not isinstance(entries, yaml.SequenceNode) or not entries.value:
        raise RegistryError([f"{where}:1: needs a non-empty 'requirements:' list"])

    errors: list[str] = []
    seen: dict[str, int] = {}
    requirements: list[Requirement] = []
    for index, node in enumerate(entries.value, start=1):
        parsed = _entry(node, where, index, errors)
        if parsed is None:
            continue
        fields, line = parsed
        if not _check(fields, where, line, index, errors):
            continue
        rid = fields["id"]
        if rid in seen:
            errors.append(
                f"{where}:{line}: duplicate requirement id {rid!r} (first defined at line "
                f"{seen[rid]}); give each promise its own id"
            )
            continue
        seen[rid] = line
        requirements.append(Requirement(rid, fields["tier"], fields["statement"], line))
    if errors:
        raise RegistryError(errors)
    return Registry(path, tuple(requirements))


def load_registry(path: Path, root: Path | None = None) -> Registry:
    """Read and validate the registry at ``path``; errors name it relative to ``root``."""
    shown = path
    if root is not None and path.is_absolute():
        try:
            shown = path.relative_to(root)
        except ValueError:
            shown = path
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise RegistryError(
            [f"{shown}: requirement registry not found; create it or set {REGISTRY_ENV}"]
        ) from None
    return parse_registry(text, shown)
