"""A workflow's DAG as positioned SVG shapes: steps in layers by dependency depth (the
engine's own `topological_levels`), ordered within a layer by their parents' positions."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from flowdeck.domain.graph import topological_levels

NODE_W, NODE_H, GAP_X, GAP_Y, PAD = 180, 52, 70, 22, 16
ICONS = {
    "transform": "ƒ",
    "http_request": "⇄",
    "condition": "◇",
    "loop": "↻",
    "wait": "◷",
    "approval": "✔",
    "script": "❯",
    "agent_task": "✦",
    "chat": "✉",
    "webhook": "⚡",
    "workflow": "▣",
}


@dataclass(frozen=True)
class Node:
    id: str
    label: str
    type: str
    icon: str
    x: int
    y: int
    status: str


@dataclass(frozen=True)
class Edge:
    source: str
    target: str
    path: str
    label: str | None = None
    label_x: int = 0
    label_y: int = 0


@dataclass
class GraphView:
    nodes: list[Node] = field(default_factory=list)
    edges: list[Edge] = field(default_factory=list)
    width: int = 0
    height: int = 0
    node_w: int = NODE_W
    node_h: int = NODE_H


def _steps(definition: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The well-formed step entries of a definition that may still be half-typed."""
    steps = definition.get("steps") if isinstance(definition, Mapping) else None
    out: list[dict[str, Any]] = []
    seen: set[str] = set()
    for step in steps if isinstance(steps, list) else []:
        if isinstance(step, dict) and isinstance(step.get("id"), str) and step["id"] not in seen:
            seen.add(step["id"])
            out.append(step)
    return out


def _deps(step: Mapping[str, Any]) -> list[str]:
    deps = step.get("depends_on")
    return [d for d in deps if isinstance(d, str)] if isinstance(deps, list) else []


def _branch_labels(steps: list[dict[str, Any]]) -> dict[tuple[str, str], str]:
    """(condition step, target) → "then"/"else"."""
    labels: dict[tuple[str, str], str] = {}
    for step in steps:
        config = step.get("config")
        if step.get("type") != "condition" or not isinstance(config, dict):
            continue
        for branch in ("then", "else"):
            targets = config.get(branch)
            for target in targets if isinstance(targets, list) else []:
                if isinstance(target, str):
                    labels[(step["id"], target)] = branch
    return labels


def _mean(values: list[float], default: float) -> float:
    return sum(values) / len(values) if values else default


def _ordered_levels(deps: dict[str, list[str]]) -> list[list[str]]:
    try:
        levels = topological_levels(deps)
    except ValueError:  # a cycle while editing: one row per step, in definition order
        return [[step] for step in deps]
    row: dict[str, float] = {}
    for level in levels:
        # Each step sits near the average row of its parents, so edges cross less.
        first = {step: float(i) for i, step in enumerate(level)}
        level.sort(key=lambda step: _mean([row[d] for d in deps[step] if d in row], first[step]))
        for index, step in enumerate(level):
            row[step] = index
    return levels


def layout(definition: Mapping[str, Any], statuses: Mapping[str, str] | None = None) -> GraphView:
    """Nodes and edges positioned left to right; `statuses` colours the nodes."""
    steps = _steps(definition)
    deps = {s["id"]: _deps(s) for s in steps}
    levels = _ordered_levels(deps)
    tallest = max((len(level) for level in levels), default=0)
    height = tallest * (NODE_H + GAP_Y) - GAP_Y + 2 * PAD if tallest else 0
    place: dict[str, tuple[int, int]] = {}
    for col, level in enumerate(levels):
        offset = (height - 2 * PAD - (len(level) * (NODE_H + GAP_Y) - GAP_Y)) // 2
        for index, step_id in enumerate(level):
            place[step_id] = (PAD + col * (NODE_W + GAP_X), PAD + offset + index * (NODE_H + GAP_Y))
    view = GraphView(width=len(levels) * (NODE_W + GAP_X) - GAP_X + 2 * PAD, height=height)
    for step in steps:
        x, y = place[step["id"]]
        kind = str(step.get("type") or "?")
        view.nodes.append(
            Node(
                id=step["id"],
                label=str(step.get("name") or step["id"]),
                type=kind,
                icon=ICONS.get(kind, "•"),
                x=x,
                y=y,
                status=(statuses or {}).get(step["id"], "pending"),
            )
        )
    labels = _branch_labels(steps)
    for step in steps:
        for dep in deps[step["id"]]:
            if dep in place:
                view.edges.append(_edge(dep, step["id"], place, labels.get((dep, step["id"]))))
    return view


def _edge(
    source: str, target: str, place: Mapping[str, tuple[int, int]], label: str | None
) -> Edge:
    sx, sy = place[source]
    tx, ty = place[target]
    x1, y1, x2, y2 = sx + NODE_W, sy + NODE_H // 2, tx, ty + NODE_H // 2
    if x2 <= x1:  # same or earlier column (only while a cycle is being edited): go round
        path = f"M{x1},{y1} C{x1 + 40},{y1} {x2 - 40},{y2} {x2},{y2}"
    else:
        mid = (x1 + x2) // 2
        path = f"M{x1},{y1} C{mid},{y1} {mid},{y2} {x2},{y2}"
    return Edge(source, target, path, label, (x1 + x2) // 2, (y1 + y2) // 2 - 4)
