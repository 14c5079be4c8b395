"""domain.limits and definition text: nesting, NUL characters, non-finite numbers, YAML."""

from __future__ import annotations

from typing import Any

import pytest

from flowdeck.domain.definition import WorkflowDefinition
from flowdeck.domain.inputs import validate_run_inputs
from flowdeck.domain.limits import (
    MAX_NESTING,
    MAX_PROBLEMS,
    JsonTooDeep,
    decode_json,
    json_problems,
)
from flowdeck.domain.validation import (
    DefinitionParseError,
    load_definition_text,
    validate_definition,
)


def nested(depth: int, leaf: Any = 1) -> Any:
    value = leaf
    for _ in range(depth):
        value = {"a": value}
    return value


def test_nesting_is_counted_in_objects_and_arrays() -> None:
    assert json_problems(1) == []
    assert json_problems(nested(MAX_NESTING)) == []
    assert json_problems([nested(MAX_NESTING - 1)]) == []
    (problem,) = json_problems(nested(MAX_NESTING + 1), "input_data")
    assert problem == "input_data.a.a.a.a…: nested more than 64 levels deep (objects and arrays)"
    # iterative: a depth no recursive walk could survive is reported, not crashed on
    assert len(json_problems(nested(100_000))) == 1


def test_nul_characters_and_non_finite_numbers_are_named_by_path() -> None:
    value = {"name": "a\x00b", "list": [1, "ok", "\x00"], "k\x00": 1, "n": float("inf")}
    assert json_problems(value, "body") == [
        "body.k\x00: keys must not contain NUL characters (\\u0000)",
        "body.name: must not contain NUL characters (\\u0000)",
        "body.list[2]: must not contain NUL characters (\\u0000)",
        "body.n: must be a finite number",
    ]
    assert json_problems({"x": float("nan")}) == ["x: must be a finite number"]


def test_problems_are_capped() -> None:
    problems = json_problems(["\x00"] * 100, "input_data")
    assert len(problems) == MAX_PROBLEMS + 1
    assert problems[-1] == "… and 80 more problems of the same kinds"


def test_decode_json_reports_what_the_parser_cannot_nest() -> None:
    with pytest.raises(JsonTooDeep):
        decode_json("[" * 100_000 + "]" * 100_000)
    assert decode_json('{"a": [1]}') == {"a": [1]}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("name: x\nsteps: &s []\n", "YAML anchors and aliases are not supported"),
        ("a: &x 1\nb: *x\n", "YAML anchors and aliases are not supported"),
        ("a: {<<: *b}\n", "YAML anchors and aliases are not supported"),
        ("x: " + "[" * 65 + "]" * 65, "nested more than 64 levels deep"),
        ("[" * 100_000, "nested more than 64 levels deep"),
        ("a: !!binary aGk=", "could not determine a constructor"),
        ("a: !!set {x}", "could not determine a constructor"),
        ("a: !!timestamp 2001-12-14", "could not determine a constructor"),
        ("a: !!python/object:os.system x", "could not determine a constructor"),
    ],
)
def test_definition_text_refusals(text: str, message: str) -> None:
    with pytest.raises(DefinitionParseError, match=message.replace("[", r"\[")):
        load_definition_text(text)


def test_definition_text_size_is_capped() -> None:
    with pytest.raises(DefinitionParseError, match="the limit is 1024"):
        load_definition_text("name: " + "x" * 2000, max_bytes=1024)
    assert load_definition_text("a: 2001-12-14\nb: [1, 2]") == {"a": "2001-12-14", "b": [1, 2]}


def test_definitions_are_checked_for_limits_first() -> None:
    step = {"id": "a", "type": "transform", "config": {"value": nested(MAX_NESTING)}}
    result = validate_definition({"name": "x", "steps": [step]})
    assert result.errors == [
        "definition.steps[0].config.value…: nested more than 64 levels deep (objects and arrays)"
    ]
    step["config"] = {"value": "ok\x00"}
    result = validate_definition({"name": "x", "steps": [step]})
    assert result.errors == [
        "definition.steps[0].config.value: must not contain NUL characters (\\u0000)"
    ]
    step["config"] = {"value": "x" * 2000}
    result = validate_definition({"name": "x", "steps": [step]}, max_bytes=1024)
    assert "the limit is 1024" in result.errors[0]


def test_run_inputs_are_checked_for_limits() -> None:
    definition = WorkflowDefinition.model_validate(
        {"name": "x", "steps": [{"id": "a", "type": "transform", "config": {"value": 1}}]}
    )
    _, errors = validate_run_inputs(definition, {"deep": nested(MAX_NESTING)})
    too_deep = "input_data.deep.a.a.a…: nested more than 64 levels deep (objects and arrays)"
    assert errors == [too_deep]
    _, errors = validate_run_inputs(definition, {"text": "\x00"})
    assert errors == ["input_data.text: must not contain NUL characters (\\u0000)"]
    resolved, errors = validate_run_inputs(definition, {"ok": nested(MAX_NESTING - 1)})
    assert errors == [] and resolved["ok"] == nested(MAX_NESTING - 1)
