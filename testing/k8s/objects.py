"""Small value types shared by apply, wait and diagnostics (kept apart to avoid cycles)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ObjectRef:
    """Enough to find one object again: apiVersion, kind, name and namespace."""

    api_version: str
    kind: str
    name: str
    namespace: str | None = None

    def __str__(self) -> str:
        where = f"{self.namespace}/" if self.namespace else ""
        return f"{self.kind} {where}{self.name}"

    @classmethod
    def of(cls, obj: Mapping[str, Any]) -> ObjectRef:
        """The reference of a manifest or API object given as a mapping."""
        meta = obj.get("metadata") or {}
        return cls(
            api_version=str(obj.get("apiVersion", "")),
            kind=str(obj.get("kind", "")),
            name=str(meta.get("name", "")),
            namespace=meta.get("namespace") or None,
        )


@dataclass(frozen=True)
class AppliedObject(ObjectRef):
    """An object as the server stored it after a server-side apply."""

    uid: str = ""
    resource_version: str = ""
    generation: int = 0


class K8sError(RuntimeError):
    """An expected failure talking to the cluster: one actionable line, no traceback."""
