"""Templates and expressions: native types, strict undefined, the sandbox, references."""

from __future__ import annotations

from typing import Any

import pytest

from flowdeck.domain.templating import (
    TemplateError,
    check_expression,
    check_template,
    evaluate_expression,
    iter_string_paths,
    iter_strings,
    referenced_inputs,
    referenced_names,
    referenced_steps,
    referenced_steps_in,
    render_value,
)

CONTEXT: dict[str, Any] = {
    "inputs": {"dataset_id": "ds_1", "n": 3, "nothing": None, "flag": True},
    "steps": {
        "fetch": {"output": {"status_code": 200, "body": {"items": [1, 2, 3]}}},
        "my-step": {"output": "dash"},
    },
    "secrets": {"TOKEN": "s3cr3t"},
    "run": {"id": "run_1", "workflow_id": "wf_1", "trigger": "manual"},
}


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("{{ steps.fetch.output.body.items }}", [1, 2, 3]),
        ("  {{ inputs.n }}  ", 3),
        ("{{inputs.n}}", 3),
        ("{{- inputs.n -}}", 3),
        ("{{ inputs.nothing }}", None),
        ("{{ inputs.flag }}", True),
        ("{{ steps.fetch.output }}", {"status_code": 200, "body": {"items": [1, 2, 3]}}),
        ("{{ steps['my-step'].output }}", "dash"),
        ("{{ inputs.n * 2 }}", 6),
        ("{{ [inputs.n, inputs.dataset_id] }}", [3, "ds_1"]),
        ("{{ '}}' }}", "}}"),
    ],
)
def test_lone_expression_keeps_native_type(template: str, expected: Any) -> None:
    assert render_value(template, CONTEXT) == expected
    assert type(render_value(template, CONTEXT)) is type(expected)


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("ds={{ inputs.dataset_id }}", "ds=ds_1"),
        ("{{ inputs.n }}{{ inputs.n }}", "33"),
        ("{{ inputs.n }} and {{ inputs.n }}", "3 and 3"),
        ("flag={{ inputs.flag }}", "flag=true"),
        ("none={{ inputs.nothing }}", "none=null"),
        ("body={{ steps.fetch.output.body }}", 'body={"items": [1, 2, 3]}'),
        ("{% if inputs.flag %}yes{% endif %}", "yes"),
        ("line\n", "line\n"),
        ("{{ inputs.n }}\n", 3),
    ],
)
def test_other_templates_render_to_text(template: str, expected: Any) -> None:
    assert render_value(template, CONTEXT) == expected


def test_json_keys_win_over_dict_methods() -> None:
    context = {"steps": {"a": {"output": {"items": [1], "keys": "k"}}}, "d": {"x": 1}}
    assert render_value("{{ steps.a.output.items }}", context) == [1]
    assert render_value("{{ steps.a.output.keys }}", context) == "k"
    assert render_value("{{ d.items() | list }}", context) == [("x", 1)]


def test_plain_strings_and_other_values_are_untouched() -> None:
    value = {"a": "plain {text}", "b": [1, 2.5, None, True], "c": {"d": "{# comment #}"}}
    assert render_value(value, CONTEXT) == value


def test_nested_values_are_rendered() -> None:
    value = {"url": "https://x/{{ inputs.dataset_id }}", "list": ["{{ inputs.n }}", 4]}
    rendered = render_value(value, CONTEXT)
    assert rendered == {"url": "https://x/ds_1", "list": [3, 4]}
    assert value["list"] == ["{{ inputs.n }}", 4]


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("steps.fetch.output.status_code == 200", True),
        ("{{ steps.fetch.output.status_code == 200 }}", True),
        ("steps.fetch.output.body['items'] | length", 3),
        ("inputs.n > 5", False),
        ("inputs.missing is defined", False),
        ("inputs.missing | default('x')", "x"),
    ],
)
def test_evaluate_expression(expression: str, expected: Any) -> None:
    assert evaluate_expression(expression, CONTEXT) == expected


@pytest.mark.parametrize(
    ("template", "reason"),
    [
        ("{{ steps.fetch.output.x }}", "'dict object' has no attribute 'x'"),
        ("value: {{ steps.nope.output }}", "'dict object' has no attribute 'nope'"),
        ("{{ undefined_name }}", "'undefined_name' is undefined"),
        ("{{ [steps.nope] }}", "'dict object' has no attribute 'nope'"),
        ("{{ 1 / 0 }}", "ZeroDivisionError: division by zero"),
    ],
)
def test_strict_undefined_and_runtime_errors(template: str, reason: str) -> None:
    with pytest.raises(TemplateError) as caught:
        render_value(template, CONTEXT)
    assert caught.value.reason == reason
    assert str(caught.value) == f'"{template}": {reason}'


@pytest.mark.parametrize(
    "template",
    [
        "{{ ''.__class__.__mro__ }}",
        "x {{ ''.__class__.__mro__[1].__subclasses__() }}",
        "{{ steps.fetch.__class__ }}",
        "{{ inputs.dataset_id.format.__globals__ }}",
        "{{ 'a' * 100000000 }}",
        "{{ 2 ** 100000 }}",
    ],
)
def test_sandbox_blocks_escapes_and_bombs(template: str) -> None:
    with pytest.raises(TemplateError):
        render_value(template, CONTEXT)


def test_syntax_error_message() -> None:
    with pytest.raises(TemplateError, match=r"^\"\{\{ inputs\.n\": unexpected end of template"):
        render_value("{{ inputs.n", CONTEXT)
    with pytest.raises(TemplateError, match=r"^\"inputs\.n ==\": unexpected 'end of template'"):
        evaluate_expression("inputs.n ==", CONTEXT)


def test_long_template_is_shortened_in_messages() -> None:
    template = "{{ steps.nope }}" + " padding" * 40
    with pytest.raises(TemplateError) as caught:
        render_value(template, CONTEXT)
    prefix = str(caught.value).split('": ')[0]
    assert len(prefix) == 81 and prefix.endswith("…")


def test_check_template_and_expression() -> None:
    assert check_template("{{ steps.a.output }} and {% if x %}y{% endif %}") is None
    assert check_template("no template here {") is None
    assert check_template("{{ a") is not None
    assert check_template("{% if %}") is not None
    assert check_expression("a.b == 1") is None
    assert check_expression("{{ a.b == 1 }}") is None
    assert check_expression("a ==") is not None
    assert check_expression("{{ a }} and {{ b }}") is not None
    assert check_expression("  ") == "expression is empty"
    assert check_template("{{ x | nosuchfilter }}") == "No filter named 'nosuchfilter'."
    assert check_expression("x is nosuchtest") == "No test named 'nosuchtest'."
    assert check_template("{% include 'other' %}") is not None
    assert check_template("{{ x | upper }} {{ x is number }}") is None


def test_unknown_filter_fails_at_render_too() -> None:
    with pytest.raises(TemplateError, match="No filter named 'nosuchfilter'"):
        render_value("{{ inputs.n | nosuchfilter }}", CONTEXT)


def test_referenced_steps_walks_the_ast() -> None:
    text = (
        "{{ steps.a.output }} {{ steps['b-1'] }} {{ steps[\"c\"].x }} "
        "{% for i in steps.d.output %}{{ i }}{% endfor %} {{ steps.get('z') }} "
        "{{ other.steps.e }} steps.f"
    )
    assert referenced_steps(text) == {"a", "b-1", "c", "d"}
    assert referenced_steps("steps.a.output and steps['b']", expression=True) == {"a", "b"}
    assert referenced_steps("{{ steps.a }}", expression=True) == {"a"}
    assert referenced_steps("{{ broken") == set()
    assert referenced_steps("no markup steps.a") == set()


def test_referenced_inputs_and_names() -> None:
    assert referenced_inputs("{{ inputs.a }} {{ inputs['b'] }}") == {"a", "b"}
    assert referenced_inputs("inputs.a > 1", expression=True) == {"a"}
    names = referenced_names("{{ steps.a }} {{ foo }} {{ loop.item }} {{ range(2) }}")
    assert names == {"steps", "foo", "loop"}
    assert referenced_names("{% for x in items %}{{ loop.index }}{{ x }}{% endfor %}") == {"items"}
    assert referenced_names("{% set y = 1 %}{{ y }}") == set()


def test_iter_strings_and_paths() -> None:
    value = {"a": "x", "b": [1, "y", {"c": "z"}], "d": None}
    assert list(iter_strings(value)) == ["x", "y", "z"]
    assert list(iter_string_paths(value, "config")) == [
        ("config.a", "x"),
        ("config.b[1]", "y"),
        ("config.b[2].c", "z"),
    ]
    assert referenced_steps_in({"u": "{{ steps.a }}", "v": ["{{ steps.b.x }}", "steps.c"]}) == {
        "a",
        "b",
    }
