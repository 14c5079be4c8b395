"""The workflow shapes the benchmarks run: trivial `transform` steps, so the engine is measured."""

from __future__ import annotations

from typing import Any

CHAIN_STEPS = 40
FAN_WIDTH = 1000
P3_STEPS = 3


def _transform(step_id: str, value: Any, depends_on: list[str] | None = None) -> dict[str, Any]:
    step: dict[str, Any] = {"id": step_id, "type": "transform", "config": {"value": value}}
    if depends_on:
        step["depends_on"] = depends_on
    return step


def chain(length: int, name: str) -> dict[str, Any]:
    """`length` transforms, each depending on the one before (constant values, no templates)."""
    steps = [_transform(f"s{i:03d}", i, [f"s{i - 1:03d}"] if i else None) for i in range(length)]
    return {"name": name, "steps": steps}


def fan_out(width: int, name: str) -> dict[str, Any]:
    """One root, `width` parallel transforms after it, one join after all of them.

    The join keeps the default trigger rule (all_success).
    """
    branches = [_transform(f"b{i:04d}", i, ["root"]) for i in range(width)]
    join = _transform("join", "done", [b["id"] for b in branches])
    return {"name": name, "steps": [_transform("root", 0), *branches, join]}
