"""Definition validation: every error at once, as sentences."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ConfigDict

from flowdeck.domain.definition import STEP_TYPES, RetryPolicy, WorkflowDefinition
from flowdeck.domain.step_configs import (
    BUILTIN_STEP_CONFIGS,
    ConditionConfig,
    HttpRequestConfig,
    LoopConfig,
    WaitConfig,
)
from flowdeck.domain.validation import (
    DefinitionParseError,
    load_definition_text,
    validate_definition,
)

# The "Create a workflow" example of seed 001.
SEED_CREATE_EXAMPLE: dict[str, Any] = {
    "name": "Fetch and notify",
    "steps": [
        {
            "id": "fetch",
            "type": "http_request",
            "config": {"method": "GET", "url": "https://api.example.com/data"},
        },
        {
            "id": "notify",
            "type": "agent_task",
            "config": {
                "agent_id": "agent_123",
                "goal": "Summarize the fetched data and post to Slack",
            },
            "depends_on": ["fetch"],
        },
    ],
}

# The example of SPEC §2.
SPEC_EXAMPLE = """
name: Fetch and notify
description: Fetch a dataset and summarise it
inputs:
  - {name: dataset_id, type: string, required: true}
  - {name: threshold, type: number, default: 0.5}
concurrency: 2
on_failure: fail
steps:
  - id: fetch
    type: http_request
    config: {method: GET, url: "https://api.example.com/data?ds={{ inputs.dataset_id }}"}
    retry: {max_attempts: 3, backoff_seconds: 1, backoff_factor: 2}
    timeout_seconds: 30
  - id: check
    type: condition
    config: {expression: "steps.fetch.output.status_code == 200", then: [notify], else: [alert]}
    depends_on: [fetch]
  - id: notify
    type: agent_task
    config: {agent_id: agent_123, goal: "Summarize {{ steps.fetch.output.body }}"}
    depends_on: [check]
  - id: alert
    type: webhook
    config: {url: "https://hooks.example.com/x", payload: {text: "fetch failed"}}
    depends_on: [check]
outputs:
  - {name: summary, value: "{{ steps.notify.output.text }}"}
"""


def workflow(*steps: Any, **extra: Any) -> dict[str, Any]:
    return {"name": "test", "steps": list(steps), **extra}


def step(step_id: str, *depends_on: str, **fields: Any) -> dict[str, Any]:
    fields.setdefault("type", "transform")
    fields.setdefault("config", {"value": 1})
    return {"id": step_id, "depends_on": list(depends_on), **fields}


def errors_of(raw: Any, **kwargs: Any) -> list[str]:
    result = validate_definition(raw, **kwargs)
    assert result.valid is (not result.errors)
    return result.errors


def test_seed_create_example_is_valid() -> None:
    result = validate_definition(SEED_CREATE_EXAMPLE)
    assert result.valid
    assert result.errors == [] and result.warnings == []
    assert isinstance(result.definition, WorkflowDefinition)
    assert result.definition.step("notify").depends_on == ["fetch"]


def test_spec_example_is_valid() -> None:
    result = validate_definition(load_definition_text(SPEC_EXAMPLE))
    assert result.errors == []
    assert result.warnings == []
    definition = result.definition
    assert definition is not None
    assert list(definition.steps_by_id) == ["fetch", "check", "notify", "alert"]
    assert definition.step("fetch").retry == RetryPolicy(
        max_attempts=3, backoff_seconds=1, backoff_factor=2
    )
    assert definition.dependency_map()["notify"] == ["check"]


def test_missing_dependency_exact_sentence() -> None:
    raw = copy.deepcopy(SEED_CREATE_EXAMPLE)
    del raw["steps"][0]
    assert errors_of(raw) == ["Step 'notify' depends on 'fetch' which doesn't exist"]


def test_cycle_exact_sentence() -> None:
    raw = workflow(step("step_a", "step_b"), step("step_b", "step_a"))
    assert errors_of(raw) == ["Cycle detected: step_a → step_b → step_a"]


def test_cycle_reads_upstream_to_downstream() -> None:
    raw = workflow(step("a", "c"), step("b", "a"), step("c", "b"), step("d", "c"))
    assert errors_of(raw) == ["Cycle detected: a → b → c → a"]


def test_seed_errors_example_reports_both_at_once() -> None:
    raw = workflow(
        step("notify", "fetch"),
        step("step_a", "step_b"),
        step("step_b", "step_a"),
    )
    assert errors_of(raw) == [
        "Step 'notify' depends on 'fetch' which doesn't exist",
        "Cycle detected: step_a → step_b → step_a",
    ]


def test_three_distinct_problems_give_three_errors() -> None:
    raw = workflow(
        step("a", "ghost"),
        step("b", type="nope"),
        step("c", timeout_seconds=-1),
    )
    errors = errors_of(raw)
    assert len(errors) == 3
    assert "Step 'a' depends on 'ghost' which doesn't exist" in errors
    assert any(e.startswith("Step 'b' has unknown type 'nope'") for e in errors)
    assert "Step 'c': timeout_seconds: Input should be greater than 0" in errors


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ([], "The workflow definition must be an object, got array"),
        ("x", "The workflow definition must be an object, got string"),
        (None, "The workflow definition must be an object, got null"),
    ],
)
def test_not_an_object(raw: Any, expected: str) -> None:
    assert errors_of(raw) == [expected]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ({"steps": []}, "name: Field required"),
        ({"name": "", "steps": []}, "name: String should have at least 1 character"),
        ({"name": "x"}, "steps: Field required"),
        ({"name": "x", "steps": {}}, "steps: Input should be a valid list, got object"),
        ({"name": "x", "steps": [], "stepz": []}, "stepz: unknown field (did you mean 'steps'?)"),
        ({"name": "x", "steps": [], "concurrency": 0}, "concurrency: Input should be greater"),
        ({"name": "x", "steps": [], "on_failure": "x"}, "on_failure: Input should be 'fail'"),
        ({"name": "x", "steps": [], "inputs": [{"type": "string"}]}, "inputs[0].name: Field"),
        ({"name": "x", "steps": [], "inputs": [{"name": "a", "typ": 1}]}, "inputs[0].typ: unknown"),
        (
            {"name": "x", "steps": [], "outputs": [{"name": "a"}]},
            "outputs[0].value: Field required",
        ),
    ],
)
def test_definition_schema_errors(raw: dict[str, Any], expected: str) -> None:
    errors = errors_of(raw)
    assert any(e.startswith(expected) for e in errors), errors


def test_version_is_accepted_and_ignored() -> None:
    for version in ("1.0", 1, 1.5, None):
        assert errors_of({"name": "x", "version": version, "steps": []}) == []


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"timeout_seconds": 0}, "Step 's': timeout_seconds: Input should be greater than 0"),
        ({"timeout_seconds": 10**9}, "Step 's': timeout_seconds: Input should be less than"),
        ({"retry": {"max_attempts": 0}}, "Step 's': retry.max_attempts: Input should be greater"),
        ({"retry": {"max_attempts": 101}}, "Step 's': retry.max_attempts: Input should be less"),
        ({"retry": {"backoff_seconds": -1}}, "Step 's': retry.backoff_seconds: Input should be"),
        ({"retry": {"backoff_factor": 0.5}}, "Step 's': retry.backoff_factor: Input should be"),
        ({"retry": {"max_backoff_seconds": 0}}, "Step 's': retry.max_backoff_seconds: Input"),
        ({"retry": {"attempts": 3}}, "Step 's': retry.attempts: unknown field"),
        ({"trigger_rule": "any"}, "Step 's': trigger_rule: Input should be 'all_success'"),
        ({"cost": -1}, "Step 's': cost: Input should be greater than or equal to 0"),
        ({"depnds_on": []}, "Step 's': depnds_on: unknown field (did you mean 'depends_on'?)"),
        ({"depends_on": "a"}, "Step 's': depends_on: Input should be a valid list"),
    ],
)
def test_step_schema_errors(fields: dict[str, Any], expected: str) -> None:
    errors = errors_of(workflow(step("s", **fields)))
    assert any(e.startswith(expected) for e in errors), errors


def test_step_without_valid_id_is_located_by_index() -> None:
    errors = errors_of(workflow(step("ok"), {"type": "transform", "config": {"value": 1}}, "x"))
    assert errors == [
        "steps[1]: id: Field required",
        "steps[2]: must be an object with an id and a type, got string",
    ]
    errors = errors_of(workflow(step("has space"), step("x" * 65)))
    assert errors[0] == "Step 'has space': id: may only contain letters, digits, '_' and '-'"
    assert errors[1].startswith(f"Step '{'x' * 65}': id: String should have at most 64")


def test_duplicates() -> None:
    raw = workflow(
        step("fetch"),
        step("fetch"),
        inputs=[{"name": "a"}, {"name": "a"}],
        outputs=[{"name": "o", "value": 1}, {"name": "o", "value": 2}],
    )
    assert errors_of(raw) == [
        "Duplicate step id 'fetch'",
        "Duplicate input name 'a'",
        "Duplicate output name 'o'",
    ]


def test_unknown_type_lists_known_types_and_suggests() -> None:
    (error,) = errors_of(workflow(step("x", type="http_requst")))
    assert error.startswith(
        "Step 'x' has unknown type 'http_requst' (did you mean 'http_request'?)"
    )
    assert all(name in error for name in STEP_TYPES)


def test_self_dependency() -> None:
    assert errors_of(workflow(step("a", "a"))) == ["Step 'a' depends on itself"]


def test_repeated_dependency_is_a_warning() -> None:
    result = validate_definition(workflow(step("a"), step("b", "a", "a")))
    assert result.valid
    assert result.warnings == ["Step 'b' lists 'a' more than once in depends_on"]


def test_step_limit() -> None:
    steps = [step(f"s{i}") for i in range(1001)]
    assert errors_of(workflow(*steps)) == ["Workflow has 1001 steps; the limit is 1000"]
    assert errors_of(workflow(*steps[:3]), max_steps=2) == ["Workflow has 3 steps; the limit is 2"]
    assert errors_of(workflow(*steps[:1000])) == []


@pytest.mark.parametrize(
    ("step_type", "config", "expected"),
    [
        ("http_request", {}, "Step 's': config.url: Field required"),
        ("http_request", {"url": "u", "method": "FETCH"}, "Step 's': config.method: Input should"),
        ("http_request", {"url": "u", "json": {}, "body": "b"}, "Step 's': config: json and body"),
        ("http_request", {"url": "u", "expect_status": [99]}, "Step 's': config.expect_status[0]"),
        ("http_request", {"url": "u", "metod": "GET"}, "Step 's': config.metod: unknown field"),
        ("script", {"language": "ruby", "code": "x"}, "Step 's': config.language: Input should"),
        ("script", {"language": "bash", "code": "  "}, "Step 's': config.code: must not be blank"),
        ("script", {"language": "bash"}, "Step 's': config.code: Field required"),
        ("agent_task", {"goal": "g"}, "Step 's': config.agent_id: Field required"),
        ("condition", {}, "Step 's': config.expression: Field required"),
        ("loop", {"step": {"type": "transform", "config": {"value": 1}}}, "Step 's': config.items"),
        ("loop", {"items": 3, "step": {"type": "wait"}}, "Step 's': config.items: must be an"),
        ("loop", {"items": [1]}, "Step 's': config.step: Field required"),
        ("loop", {"items": [1], "step": {"type": "loop"}}, "Step 's': config.step.type: a loop"),
        ("loop", {"items": [1], "step": {"type": "approval"}}, "Step 's': config.step.type: a"),
        ("loop", {"items": [1], "step": {"type": "x"}}, "Step 's': config.step.type: unknown"),
        ("loop", {"items": [1], "step": {"type": "wait"}}, "Step 's': config.step.config: give"),
        (
            "loop",
            {"items": [1], "step": {"type": "http_request", "config": {"url": 1}}},
            "Step 's': config.step.config.url: Input should be a valid string",
        ),
        (
            "loop",
            {"items": [1], "step": {"type": "wait"}, "concurrency": 0},
            "Step 's': config.conc",
        ),
        ("wait", {}, "Step 's': config: give exactly one of seconds or until"),
        ("wait", {"seconds": 1, "until": "2030-01-01T00:00:00Z"}, "Step 's': config: give exactly"),
        ("wait", {"seconds": -1}, "Step 's': config.seconds: must be a finite number, at least 0"),
        ("wait", {"seconds": "soon"}, "Step 's': config.seconds: must be a number or a template"),
        ("wait", {"until": "tomorrow"}, "Step 's': config.until: must be an ISO 8601 timestamp"),
        ("webhook", {}, "Step 's': config.url: Field required"),
        ("webhook", {"url": "u", "secret": 1}, "Step 's': config.secret: Input should be a valid"),
        ("approval", {"on_timeout": "ignore"}, "Step 's': config.on_timeout: Input should be"),
        ("approval", {"timeout_seconds": 0}, "Step 's': config.timeout_seconds: Input should be"),
        ("transform", {}, "Step 's': config.value: Field required"),
        ("workflow", {}, "Step 's': config.workflow_id: Field required"),
        ("workflow", {"workflow_id": "w", "input_data": []}, "Step 's': config.input_data: Input"),
    ],
)
def test_invalid_config_for_type(step_type: str, config: dict[str, Any], expected: str) -> None:
    errors = errors_of(workflow(step("s", type=step_type, config=config)))
    assert any(e.startswith(expected) for e in errors), errors


@pytest.mark.parametrize(
    ("step_type", "config"),
    [
        ("http_request", {"url": "https://x", "method": "post", "json": {"a": 1}}),
        (
            "http_request",
            {"url": "u", "body": "raw", "headers": {"A": "b"}, "expect_status": [200]},
        ),
        ("script", {"language": "python", "code": "print(1)", "env": {"A": "b"}}),
        ("agent_task", {"agent_id": "a", "goal": "g", "output_schema": {"type": "object"}}),
        ("condition", {"expression": "true", "then": [], "else": []}),
        ("loop", {"items": "[1, 2]", "step": {"type": "transform", "config": {"value": 1}}}),
        ("loop", {"items": [1, 2], "step": {"type": "wait", "config": {"seconds": 1}}}),
        ("wait", {"seconds": 0}),
        ("wait", {"seconds": "{{ inputs.delay }}"}),
        ("wait", {"seconds": "2.5"}),
        ("wait", {"until": "2030-01-01T09:00:00Z"}),
        ("wait", {"until": "{{ inputs.when }}"}),
        ("webhook", {"url": "u", "payload": {"a": [1]}, "secret": "s"}),
        ("approval", {}),
        ("approval", {"message": "ok?", "timeout_seconds": 60, "on_timeout": "approve"}),
        ("transform", {"value": None}),
        ("workflow", {"workflow_id": "wf_1", "input_data": {"a": 1}}),
    ],
)
def test_valid_configs(step_type: str, config: dict[str, Any]) -> None:
    assert errors_of(workflow(step("s", type=step_type, config=config))) == []


def test_config_models_directly() -> None:
    http = HttpRequestConfig.model_validate({"url": "u", "json": {"a": 1}})
    assert http.json_ == {"a": 1} and http.method == "GET"
    condition = ConditionConfig.model_validate({"expression": "x", "else": ["b"]})
    assert condition.else_ == ["b"]
    assert WaitConfig.model_validate({"seconds": "3"}).seconds == 3.0
    with pytest.raises(ValueError, match=r"step\.config: url: Field required"):
        LoopConfig.model_validate({"items": [1], "step": {"type": "http_request"}})
    assert set(BUILTIN_STEP_CONFIGS) == set(STEP_TYPES)


def test_retry_delays_grow_and_are_capped() -> None:
    policy = RetryPolicy(max_attempts=5, backoff_seconds=1, backoff_factor=3, max_backoff_seconds=5)
    assert [policy.delay_before(n) for n in range(1, 6)] == [0.0, 1.0, 3.0, 5.0, 5.0]


def test_steps_by_id_follows_changes() -> None:
    definition = WorkflowDefinition.model_validate(workflow(step("a")))
    assert list(definition.steps_by_id) == ["a"]
    definition.steps.append(definition.step("a").model_copy(update={"id": "b"}))
    assert definition.step("b").id == "b"
    with pytest.raises(KeyError, match="no step 'c'"):
        definition.step("c")


def test_custom_step_registry() -> None:
    class EchoConfig(BaseModel):
        model_config = ConfigDict(extra="forbid")
        text: str

    registry = {**BUILTIN_STEP_CONFIGS, "echo": EchoConfig}
    raw = workflow(step("e", type="echo", config={"text": "hi"}))
    assert errors_of(raw) != []
    assert errors_of(raw, step_configs=registry) == []
    bad = workflow(step("e", type="echo", config={}))
    assert errors_of(bad, step_configs=registry) == ["Step 'e': config.text: Field required"]


def test_template_must_reference_an_ancestor() -> None:
    raw = workflow(
        step("fetch"),
        step("other"),
        step("notify", "fetch", config={"value": "{{ steps.other.output }}"}),
    )
    assert errors_of(raw) == [
        "Step 'notify' references step 'other' which is not one of its upstream dependencies"
        " (in config.value)"
    ]


def test_template_references_are_checked_everywhere() -> None:
    raw = workflow(
        step("a"),
        step("b", "a", when="steps.a.output and steps['ghost'].output"),
        step("c", "b", config={"value": {"deep": ["{{ steps.a.output }}", "{{ steps.d }}"]}}),
        step("d"),
    )
    assert errors_of(raw) == [
        "Step 'b' references step 'ghost' which doesn't exist (in when)",
        "Step 'c' references step 'd' which is not one of its upstream dependencies"
        " (in config.value.deep[1])",
    ]


def test_transitive_ancestors_are_fine() -> None:
    raw = workflow(step("a"), step("b", "a"), step("c", "b", config={"value": "{{ steps.a }}"}))
    assert errors_of(raw) == []


def test_malformed_templates_and_expressions() -> None:
    raw = workflow(
        step("a", config={"value": "{{ steps.x"}),
        step("b", when="a =="),
        step("c", type="condition", config={"expression": "{% if %}"}),
        step("d", type="loop", config={"items": "a b", "step": {"type": "wait"}}),
    )
    errors = errors_of(raw)
    assert len(errors) == 5, errors
    assert errors[0].startswith("Step 'd': config.step.config: give exactly one")
    assert errors[1].startswith("Step 'a': config.value: malformed template: unexpected")
    assert errors[2].startswith("Step 'b': when: malformed expression: unexpected")
    assert errors[3].startswith("Step 'c': config.expression: malformed expression:")
    assert errors[4].startswith("Step 'd': config.items: malformed expression:")


def test_condition_targets() -> None:
    raw = workflow(
        step("a"),
        step("check", "a", type="condition", config={"expression": "true", "then": ["b", "x"]}),
        step("b", "check"),
        step("c", "a"),
        step("cond2", type="condition", config={"expression": "1", "else": ["c", "cond2"]}),
    )
    assert errors_of(raw) == [
        "Step 'check' lists 'x' under then, but there is no step 'x'",
        "Step 'cond2' lists 'c' under else, but 'c' does not depend on 'cond2'",
        "Step 'cond2' lists itself under else",
    ]


def test_condition_target_in_both_branches_is_a_warning() -> None:
    raw = workflow(
        step("check", type="condition", config={"expression": "1", "then": ["b"], "else": ["b"]}),
        step("b", "check"),
    )
    result = validate_definition(raw)
    assert result.valid
    assert result.warnings == ["Step 'check' lists 'b' under both then and else"]


def test_join_after_branches_needs_none_failed() -> None:
    check = step(
        "check", type="condition", config={"expression": "1", "then": ["a"], "else": ["b"]}
    )
    raw = workflow(check, step("a", "check"), step("b", "check"), step("join", "a", "b"))
    result = validate_definition(raw)
    assert result.valid
    assert result.warnings == [
        "Step 'join' joins both branches of 'check' with trigger_rule all_success, "
        "so it is always skipped; use trigger_rule: none_failed"
    ]
    raw["steps"][-1]["trigger_rule"] = "none_failed"
    assert validate_definition(raw).warnings == []


def test_loop_variable_only_inside_a_loop_body() -> None:
    body = {"type": "http_request", "config": {"url": "https://x/{{ loop.item }}"}}
    ok = workflow(step("each", type="loop", config={"items": [1, 2], "step": body}))
    assert errors_of(ok) == []
    bad = workflow(step("s", config={"value": "{{ loop.index }}"}))
    assert errors_of(bad) == [
        "Step 's': config.value uses 'loop', which exists only in a loop body"
    ]
    jinja_for = workflow(
        step("s", config={"value": "{% for x in [1] %}{{ loop.index }}{% endfor %}"})
    )
    assert errors_of(jinja_for) == []


def test_unknown_template_variable() -> None:
    raw = workflow(step("s", config={"value": "{{ input.x }} {{ range(3) | list }}"}))
    assert errors_of(raw) == [
        "Step 's': config.value uses unknown variable 'input'; known: inputs, run, secrets, steps"
    ]


def test_undeclared_input_is_a_warning_only_when_inputs_are_declared() -> None:
    steps = [step("s", config={"value": "{{ inputs.a }} {{ inputs.b }}"})]
    assert validate_definition(workflow(*steps)).warnings == []
    result = validate_definition(workflow(*steps, inputs=[{"name": "a"}]))
    assert result.valid
    assert result.warnings == ["Step 's': config.value reads input 'b', which is not declared"]


def test_input_defaults_are_type_checked() -> None:
    raw = workflow(
        inputs=[
            {"name": "t", "type": "number", "default": "x"},
            {"name": "r", "type": "string", "required": True, "default": "d"},
        ]
    )
    result = validate_definition(raw)
    assert result.errors == ["Input 't': default must be a number, got string"]
    assert result.warnings == ["Input 'r' is required, so its default is never used"]


def test_outputs_are_checked() -> None:
    raw = workflow(
        step("a"),
        outputs=[
            {"name": "ok", "value": {"x": "{{ steps.a.output }}"}},
            {"name": "ghost", "value": "{{ steps.zzz.output }}"},
            {"name": "broken", "value": "{{ steps.a"},
        ],
    )
    errors = errors_of(raw)
    assert errors[0] == "Output 'ghost' references step 'zzz' which doesn't exist"
    assert errors[1].startswith("Output 'broken': value: malformed template:")
    assert len(errors) == 2


def test_parts_that_parse_are_still_checked() -> None:
    raw = workflow(
        step("a", "b", timeout_seconds=-5),
        step("b", "a", type="unknown"),
        step("c", "a", config={"value": "{{ steps.zz }}"}, retry={"max_attempts": 0}),
    )
    errors = errors_of(raw)
    assert errors[0] == "Step 'a': timeout_seconds: Input should be greater than 0"
    assert errors[1].startswith("Step 'b' has unknown type 'unknown'")
    assert errors[2].startswith("Step 'c': retry.max_attempts:")
    assert errors[3:] == [
        "Cycle detected: a → b → a",
        "Step 'c' references step 'zz' which doesn't exist (in config.value)",
    ]


def test_self_reference() -> None:
    assert errors_of(workflow(step("a", config={"value": "{{ steps.a.output }}"}))) == [
        "Step 'a' references step 'a' which is itself; a step cannot read its own output"
        " (in config.value)"
    ]


def test_non_string_keys_from_yaml() -> None:
    raw = load_definition_text(
        "name: x\n1: y\nsteps:\n- {id: a, type: transform, config: {value: 1, 2: 3}}"
    )
    assert errors_of(raw) == ["key 1 must be a string", "Step 'a': config: key 2 must be a string"]


def test_errors_are_deterministic() -> None:
    raw = workflow(step("a", "x"), step("b", "y"), step("c", "c", config={"value": "{{ q }}"}))
    assert errors_of(raw) == errors_of(copy.deepcopy(raw))


def test_definition_is_none_when_invalid() -> None:
    result = validate_definition(workflow(step("a", "ghost")))
    assert not result.valid and result.definition is None


def test_load_definition_text_yaml_and_json() -> None:
    assert load_definition_text('{"name": "x", "steps": []}') == {"name": "x", "steps": []}
    assert load_definition_text("{name: x, steps: []}") == {"name": "x", "steps": []}
    assert load_definition_text("name: x\nuntil: 2030-01-01T00:00:00Z\n")["until"] == (
        "2030-01-01T00:00:00Z"
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", "The definition is empty"),
        ("name: [unclosed", "Invalid YAML at line"),
        ('{"name": "x",', "Invalid YAML at line"),
        ("a: b\n c: d\n", "Invalid YAML at line 2"),
    ],
)
def test_load_definition_text_errors(text: str, expected: str) -> None:
    with pytest.raises(DefinitionParseError, match="^" + expected):
        load_definition_text(text)


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False)
    | st.text(max_size=20)
    | st.sampled_from(["{{ steps.a }}", "{{", "{% x %}", "steps.a ==", "a", "http_request"]),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=30,
)
step_keys = st.sampled_from(
    ["id", "type", "config", "depends_on", "when", "retry", "timeout_seconds", "x", "name"]
)
raw_steps = st.dictionaries(step_keys, json_values | st.sampled_from(STEP_TYPES), max_size=6)
raw_definitions = st.fixed_dictionaries(
    {"name": json_values, "steps": st.lists(raw_steps, max_size=5) | json_values},
    optional={"inputs": json_values, "outputs": json_values, "concurrency": json_values},
)


@settings(max_examples=300, deadline=None)
@given(st.one_of(json_values, raw_definitions))
def test_validate_never_raises(raw: Any) -> None:
    result = validate_definition(raw)
    assert all(isinstance(e, str) and e for e in result.errors)
    assert (result.definition is not None) == result.valid
