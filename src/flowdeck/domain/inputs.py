"""Run inputs: defaults, required inputs and JSON types, checked against a definition."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from flowdeck.domain.definition import InputType, WorkflowDefinition
from flowdeck.domain.limits import json_problems

_WITH_ARTICLE: dict[str, str] = {
    "string": "a string",
    "number": "a number",
    "integer": "an integer",
    "boolean": "a boolean",
    "object": "an object",
    "array": "an array",
}


def json_type_name(value: Any) -> str:
    """The JSON name of a Python value's type (`string`, `integer`, `null`…)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, Mapping):
        return "object"
    if isinstance(value, list | tuple):
        return "array"
    return type(value).__name__


def _matches(expected: InputType, value: Any) -> bool:
    if expected == "any":
        return True
    if expected == "string":
        return isinstance(value, str)
    if expected == "boolean":
        return isinstance(value, bool)
    if expected == "number":
        return isinstance(value, int | float) and not isinstance(value, bool)
    if expected == "integer":
        if isinstance(value, bool):
            return False
        return isinstance(value, int) or (isinstance(value, float) and value.is_integer())
    if expected == "object":
        return isinstance(value, Mapping)
    return isinstance(value, list | tuple)


def input_type_problem(expected: InputType, value: Any) -> str | None:
    """`must be a number, got string` when `value` is not of `expected` type, else None."""
    if _matches(expected, value):
        return None
    return f"must be {_WITH_ARTICLE[expected]}, got {json_type_name(value)}"


def _coerce(expected: InputType, value: Any) -> Any:
    """Whole floats given for an integer input become ints (JSON does not tell 3 from 3.0)."""
    if expected == "integer" and isinstance(value, float):
        return int(value)
    return value


def validate_run_inputs(
    definition: WorkflowDefinition, input_data: Mapping[str, Any]
) -> tuple[dict[str, Any], list[str]]:
    """Resolve a run's inputs: apply defaults, check required inputs and types, every error."""
    if not isinstance(input_data, Mapping):
        return {}, [f"Input data must be an object, got {json_type_name(input_data)}"]
    # Whatever the entry point (API, webhook, schedule, MCP, a parent run), nothing over-deep,
    # with NUL characters or non-finite numbers is stored.
    problems = json_problems(dict(input_data), "input_data")
    if problems:
        return {}, problems
    errors: list[str] = []
    resolved: dict[str, Any] = {}
    declared = {spec.name for spec in definition.inputs}
    if declared:
        names = ", ".join(spec.name for spec in definition.inputs)
        for name in input_data:
            if name not in declared:
                errors.append(f"Unknown input '{name}'; the declared inputs are: {names}")
    else:
        resolved.update(input_data)
    for spec in definition.inputs:
        # null counts as not given, so a default applies and a required input is reported.
        value = input_data.get(spec.name)
        if value is None:
            if spec.required:
                errors.append(f"Input '{spec.name}' is required")
                continue
            resolved[spec.name] = copy.deepcopy(spec.default)
            continue
        problem = input_type_problem(spec.type, value)
        if problem is not None:
            errors.append(f"Input '{spec.name}' {problem}")
            continue
        resolved[spec.name] = _coerce(spec.type, value)
    return resolved, errors
