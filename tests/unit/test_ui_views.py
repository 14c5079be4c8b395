"""The UI's pure helpers: the DAG layout and the readable version diff."""

from __future__ import annotations

from typing import Any

from flowdeck.domain.diff import diff_definitions
from flowdeck.ui.diffs import readable
from flowdeck.ui.graph import NODE_W, layout


def _step(step_id: str, *deps: str, **extra: Any) -> dict[str, Any]:
    return {"id": step_id, "type": "transform", "depends_on": list(deps), **extra}


def test_layout_puts_each_step_right_of_its_dependencies_and_labels_branches() -> None:
    definition = {
        "steps": [
            {
                "id": "check",
                "type": "condition",
                "config": {"expression": "x", "then": ["yes"], "else": ["no"]},
            },
            _step("yes", "check"),
            _step("no", "check"),
            _step("join", "yes", "no"),
        ]
    }
    view = layout(definition, {"check": "completed"})
    x = {n.id: n.x for n in view.nodes}
    assert x["check"] < x["yes"] == x["no"] < x["join"]
    assert {n.id: n.status for n in view.nodes}["check"] == "completed"
    assert {n.id: n.status for n in view.nodes}["join"] == "pending"
    labels = {(e.source, e.target): e.label for e in view.edges}
    assert labels == {
        ("check", "yes"): "then",
        ("check", "no"): "else",
        ("yes", "join"): None,
        ("no", "join"): None,
    }
    assert view.width >= 3 * NODE_W


def test_layout_draws_half_typed_and_cyclic_definitions_without_failing() -> None:
    assert layout({"steps": "oops"}).nodes == []
    cyclic = layout({"steps": [_step("a", "b"), _step("b", "a"), {"no": "id"}, _step("a")]})
    assert [n.id for n in cyclic.nodes] == ["a", "b"]
    assert len(cyclic.edges) == 2


def test_readable_diff_names_steps_as_indexes_shift() -> None:
    old = {"name": "x", "steps": [_step("a"), _step("b", "a"), _step("c", "b"), _step("d")]}
    new = {"name": "x", "steps": [_step("a"), _step("b", "a"), _step("e")]}
    ops, _ = diff_definitions(old, new)
    # The patch renames c to e in place, then edits e, then removes d (index 3 at that point).
    assert [(c.op, c.where) for c in readable(ops, old)] == [
        ("replace", "step 'c' › id"),
        ("remove", "step 'e' › depends_on › 0"),
        ("remove", "step 'd'"),
    ]
    added = readable(*diff_definitions(old, {**old, "steps": [*old["steps"], _step("z")]})[:1], old)
    assert [c.where for c in added] == ["step 'z'"]
