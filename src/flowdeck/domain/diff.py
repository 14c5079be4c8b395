"""Differences between two definitions: RFC 6902 operations and a human summary."""

from __future__ import annotations

from typing import Any

import jsonpatch


def _steps_by_id(definition: dict[str, Any]) -> dict[str, Any]:
    steps = definition.get("steps") or []
    return {s["id"]: s for s in steps if isinstance(s, dict) and "id" in s}


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def diff_definitions(old: dict[str, Any], new: dict[str, Any]) -> tuple[list[dict[str, Any]], str]:
    """JSON Patch operations turning `old` into `new`, and a summary of what changed."""
    ops: list[dict[str, Any]] = list(jsonpatch.make_patch(old, new))
    before, after = _steps_by_id(old), _steps_by_id(new)
    added = [s for s in after if s not in before]
    removed = [s for s in before if s not in after]
    modified = [s for s in after if s in before and before[s] != after[s]]
    parts = []
    if added:
        parts.append(f"added {_plural(len(added), 'step')}")
    if removed:
        parts.append(f"removed {_plural(len(removed), 'step')}")
    if modified:
        parts.append(f"modified {_plural(len(modified), 'step')}")
    other = sorted(k for k in set(old) | set(new) if k != "steps" and old.get(k) != new.get(k))
    if other:
        parts.append("changed " + ", ".join(other))
    if not parts:
        return ops, "No changes"
    summary = ", ".join(parts)
    return ops, summary[0].upper() + summary[1:]
