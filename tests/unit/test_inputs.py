"""Run inputs: defaults, required inputs and JSON types."""

from __future__ import annotations

from typing import Any

import pytest

from flowdeck.domain.definition import InputSpec, WorkflowDefinition
from flowdeck.domain.inputs import input_type_problem, json_type_name, validate_run_inputs


def definition(*inputs: dict[str, Any]) -> WorkflowDefinition:
    return WorkflowDefinition(
        name="t", steps=[], inputs=[InputSpec.model_validate(i) for i in inputs]
    )


SPEC_INPUTS = definition(
    {"name": "dataset_id", "type": "string", "required": True},
    {"name": "threshold", "type": "number", "default": 0.5},
)


def test_defaults_apply() -> None:
    resolved, errors = validate_run_inputs(SPEC_INPUTS, {"dataset_id": "ds_123"})
    assert errors == []
    assert resolved == {"dataset_id": "ds_123", "threshold": 0.5}


def test_required_and_type_errors_all_at_once() -> None:
    resolved, errors = validate_run_inputs(SPEC_INPUTS, {"threshold": "high", "extra": 1})
    assert errors == [
        "Unknown input 'extra'; the declared inputs are: dataset_id, threshold",
        "Input 'dataset_id' is required",
        "Input 'threshold' must be a number, got string",
    ]
    assert "extra" not in resolved


def test_null_counts_as_missing() -> None:
    _, errors = validate_run_inputs(SPEC_INPUTS, {"dataset_id": None, "threshold": None})
    assert errors == ["Input 'dataset_id' is required"]
    resolved, _ = validate_run_inputs(SPEC_INPUTS, {"dataset_id": "x", "threshold": None})
    assert resolved["threshold"] == 0.5


def test_optional_without_default_resolves_to_none() -> None:
    resolved, errors = validate_run_inputs(definition({"name": "note"}), {})
    assert (resolved, errors) == ({"note": None}, [])


def test_defaults_are_copied() -> None:
    spec = definition({"name": "tags", "type": "array", "default": ["a"]})
    resolved, _ = validate_run_inputs(spec, {})
    resolved["tags"].append("b")
    assert validate_run_inputs(spec, {})[0]["tags"] == ["a"]


def test_undeclared_inputs_pass_through_when_nothing_is_declared() -> None:
    resolved, errors = validate_run_inputs(definition(), {"anything": [1]})
    assert (resolved, errors) == ({"anything": [1]}, [])


def test_input_data_must_be_an_object() -> None:
    _, errors = validate_run_inputs(definition(), [1])  # type: ignore[arg-type]
    assert errors == ["Input data must be an object, got array"]


@pytest.mark.parametrize(
    ("kind", "value", "ok"),
    [
        ("string", "x", True),
        ("string", 1, False),
        ("number", 1, True),
        ("number", 1.5, True),
        ("number", True, False),
        ("number", "1", False),
        ("integer", 3, True),
        ("integer", 3.0, True),
        ("integer", 3.5, False),
        ("integer", False, False),
        ("boolean", False, True),
        ("boolean", 0, False),
        ("object", {"a": 1}, True),
        ("object", [], False),
        ("array", [1], True),
        ("array", {}, False),
        ("any", object(), True),
        ("any", None, True),
    ],
)
def test_type_checks(kind: Any, value: Any, ok: bool) -> None:
    assert (input_type_problem(kind, value) is None) is ok


@pytest.mark.parametrize(
    ("kind", "value", "expected"),
    [
        ("integer", 2.5, "Input 'x' must be an integer, got number"),
        ("integer", True, "Input 'x' must be an integer, got boolean"),
        ("object", [1], "Input 'x' must be an object, got array"),
        ("array", "a", "Input 'x' must be an array, got string"),
        ("boolean", 1, "Input 'x' must be a boolean, got integer"),
        ("string", {}, "Input 'x' must be a string, got object"),
    ],
)
def test_type_error_sentences(kind: str, value: Any, expected: str) -> None:
    _, errors = validate_run_inputs(definition({"name": "x", "type": kind}), {"x": value})
    assert errors == [expected]


def test_whole_float_becomes_int_for_integer_inputs() -> None:
    resolved, errors = validate_run_inputs(definition({"name": "n", "type": "integer"}), {"n": 4.0})
    assert errors == []
    assert resolved["n"] == 4 and isinstance(resolved["n"], int)


def test_json_type_names() -> None:
    values: tuple[Any, ...] = (None, True, 1, 1.0, "s", {}, [], ())
    assert [json_type_name(v) for v in values] == [
        "null",
        "boolean",
        "integer",
        "number",
        "string",
        "object",
        "array",
        "array",
    ]
