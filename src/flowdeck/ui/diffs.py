"""A version diff for people: RFC 6902 paths into steps named by the step's id."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Change:
    """One operation: what kind, where (in words), and the new value as JSON text."""

    op: str
    where: str
    value: str | None


def _step_ids(definition: Mapping[str, Any]) -> list[str]:
    steps = definition.get("steps")
    return [
        str(s.get("id")) if isinstance(s, dict) else "?"
        for s in (steps if isinstance(steps, list) else [])
    ]


def _where(path: str, ids: Sequence[str]) -> str:
    parts = path.lstrip("/").split("/")
    if len(parts) >= 2 and parts[0] == "steps" and parts[1].isdigit():
        index = int(parts[1])
        name = f"step '{ids[index]}'" if index < len(ids) else f"step #{index + 1}"
        rest = "/".join(parts[2:])
        return f"{name} › {rest.replace('/', ' › ')}" if rest else name
    return path.lstrip("/").replace("/", " › ") or "the whole definition"


def _apply(ids: list[str], op: Mapping[str, Any]) -> None:
    """Follow the patch's effect on the list of step ids (its indexes shift as it goes)."""
    parts = str(op.get("path", "")).lstrip("/").split("/")
    if parts[0] != "steps" or len(parts) < 2:
        return
    kind, value = op.get("op"), op.get("value")
    index = len(ids) if parts[1] == "-" else int(parts[1]) if parts[1].isdigit() else -1
    if index < 0:
        return
    if len(parts) == 2 and kind == "remove" and index < len(ids):
        ids.pop(index)
    elif len(parts) == 2 and kind == "add":
        ids.insert(index, str(value.get("id")) if isinstance(value, dict) else "?")
    elif kind == "replace" and index < len(ids) and parts[2:] in ([], ["id"]):
        step_id = value.get("id") if isinstance(value, dict) and len(parts) == 2 else value
        ids[index] = str(step_id)


def readable(ops: Sequence[Mapping[str, Any]], old: Mapping[str, Any]) -> list[Change]:
    """Each operation with its place named by the step ids as they stand when it applies."""
    ids = _step_ids(old)
    changes = []
    for op in ops:
        kind, path = str(op.get("op")), str(op.get("path", ""))
        value = json.dumps(op["value"], sort_keys=True)[:400] if "value" in op else None
        if kind == "add":  # an added step is named by its own id: follow the add first
            _apply(ids, op)
            if path == "/steps/-":
                path = f"/steps/{len(ids) - 1}"
        changes.append(Change(kind, _where(path, ids), value))
        if kind != "add":
            _apply(ids, op)
    return changes
