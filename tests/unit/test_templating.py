"""Templates and expressions: native types, strict undefined, the sandbox, references."""

from __future__ import annotations

import threading
import time
import tracemalloc
from typing import Any

import pytest

from flowdeck.domain.templating import (
    DEFAULT_BUDGET,
    Budget,
    SliceSpent,
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


# -- the budget (SPEC §9: templates under a CPU, size and iteration budget) -------------------

NESTED_LOOPS = "{% for i in range(20000) %}{% for j in range(2000) %}{% endfor %}{% endfor %}"
REPEATED_JOIN = "{% set a = 'x' * 9999999 %}{{ ([a] * 40)|join|length }}"
# Each `in` scans 20,000 items: slow per iteration, few iterations, nothing built.
SLOW_LOOP = (
    "{% set l = range(20000)|list %}"
    "{% for i in range(100000) %}{% if -1 in l %}{% endif %}{% endfor %}done"
)
SMALL = Budget(iterations=20_000, seconds=30)
ONE_VALUE = "bytes for one value"


def _fails(template: str, budget: Budget = DEFAULT_BUDGET, **context: Any) -> tuple[str, float]:
    """The reason the render fails, and how long it took to fail."""
    started = time.perf_counter()
    with pytest.raises(TemplateError) as caught:
        render_value(template, {**CONTEXT, **context}, budget)
    return caught.value.reason, time.perf_counter() - started


def _peak_mib(template: str, budget: Budget = DEFAULT_BUDGET, **context: Any) -> float:
    """The most memory the failing render held above what it started with, in MiB."""
    tracemalloc.start()
    try:
        with pytest.raises(TemplateError):
            render_value(template, {**CONTEXT, **context}, budget)
        return tracemalloc.get_traced_memory()[1] / 2**20
    finally:
        tracemalloc.stop()


def test_the_reviewers_nested_loops_fail_on_the_iteration_budget_quickly() -> None:
    reason, took = _fails(NESTED_LOOPS)
    assert reason == "template exceeded its budget of 1,000,000 loop iterations"
    assert took < 5  # 40 million iterations unbudgeted; about half a second here
    assert _peak_mib(NESTED_LOOPS, SMALL) < 5


@pytest.mark.parametrize(
    "template",
    [
        "{% for x in inputs.big %}{% endfor %}",
        "{% for x in inputs.big if x < 0 %}{% endfor %}",
        "{% for i in range(100) %}{% for x in inputs.big if x < 0 %}{% endfor %}{% endfor %}",
        "{{ inputs.big|map('string')|list|length }}{% for c in 'ab' * 20000 %}{% endfor %}",
        "{% for d in inputs.dict %}{% endfor %}",
        # A recursive loop's `loop(...)` iterates too.
        "{% for i in [1] recursive %}{{ loop(inputs.big) if loop.depth < 3 }}{% endfor %}",
        # Calls count: a macro calling itself twice per level makes 2^40 calls.
        "{% macro f(n) %}{% if n %}{{ f(n - 1) }}{{ f(n - 1) }}{% endif %}{% endmacro %}"
        "{{ f(40) }}",
    ],
)
def test_loops_over_lists_strings_and_ranges_and_recursion_count_iterations(
    template: str,
) -> None:
    big = list(range(50_000))
    reason, took = _fails(template, SMALL, inputs={"big": big, "dict": dict.fromkeys(big)})
    assert reason == "template exceeded its budget of 20,000 loop iterations"
    assert took < 5


def test_a_macro_that_never_stops_calling_itself_fails_clearly() -> None:
    reason, took = _fails("{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}")
    assert reason == "template calls itself too deeply"
    assert took < 5


def test_the_reviewers_repetition_is_refused_before_it_is_built() -> None:
    reason, took = _fails(REPEATED_JOIN)
    assert reason == (
        "template exceeded its budget of 1,048,576 bytes for one value "
        "(it tried to build about 9,999,999)"
    )
    assert took < 1
    assert _peak_mib(REPEATED_JOIN) < 5  # it took 380 MiB unbudgeted


@pytest.mark.parametrize(
    "template",
    [
        # Growth by repetition, concatenation and shared references written out.
        "{{ 'x' * 2000000 }}",
        "{{ [[1] * 1000] * 2000 }}",
        "{% set a = 'x' * 900000 %}{{ ([a] * 40)|join|length }}",
        "{% set a = 'x' * 900000 %}{{ (a ~ a)|length }}",
        "{% set a = 'x' * 900000 %}{{ (a + a)|length }}",
        "{% set a = 'x' * 900000 %}{{ [a, a]|join|length }}",
        "{% set a = 'x' * 900000 %}{{ [a, a]|tojson|length }}",
        "{% set a = 'x' * 900000 %}{{ [a, a]|string|length }}",
        "{% set a = 'x' * 900000 %}list: {{ [a, a] }}",
        "{% set a = 'x' * 900000 %}{{ '%s%s' % (a, a) }}",
        "{% set a = 'x' * 900000 %}{{ '{}{}'.format(a, a) }}",
        "{% set a = 'x' * 900000 %}{{ ''.join([a, a]) }}",
        "{% set a = 'x' * 900000 %}{% set ns = namespace(s='') %}"
        "{% for i in range(3) %}{% set ns.s = ns.s ~ a %}{% endfor %}",
        "{% set l = [1] %}{% for i in range(40) %}{{ l.extend(l) }}{% endfor %}",
        "{{ (2 ** 10000) ** 1000 }}",
        "{% set ns = namespace(n=2 ** 10000) %}{% for i in range(20) %}{% set ns.n = ns.n * ns.n %}"
        "{% endfor %}",
        # Filters and methods that make much from little: widths, counts, separators.
        "{{ 'x'|center(1000000000) }}",
        "{{ ('a\\n' * 1000)|indent(1000000) }}",
        "{{ ('a ' * 1000)|wordwrap(1, wrapstring='x' * 100000) }}",
        "{{ ('a' * 1000)|replace('a', 'b' * 100000) }}",
        "{{ '%1000000000d'|format(1) }}",
        "{{ '%1000000000d' % 1 }}",
        "{{ '%*d' % (1000000000, 1) }}",
        "{{ '%1000000000d'.encode() % 1 }}",
        "{{ '{:>1000000000}'.format(1) }}",
        "{{ '{:{}}'.format(1, 1000000000) }}",
        "{{ 'x'.ljust(1000000000) }}",
        "{{ ('\\t' * 1000).expandtabs(100000) }}",
        "{{ 'abc'.translate({97: 'x' * 1000000}) }}",
        "{{ [1]|batch(1000000000, 0)|list }}",
        "{{ []|slice(1000000000)|list }}",
        "{{ [{'a': 1}]|tojson(indent=1000000) }}",
        "{{ lipsum(100000) }}",
        "{{ (1).to_bytes(1000000000, 'big') }}",
    ],
)
def test_values_cannot_grow_past_the_size_budget(template: str) -> None:
    reason, took = _fails(template)
    assert ONE_VALUE in reason, reason
    assert took < 5
    assert _peak_mib(template) < 20


def test_output_cannot_grow_past_the_size_budget() -> None:
    template = "{% for i in range(100000) %}{{ 'x' * 100 }}{% endfor %}"
    reason, _ = _fails(template)
    assert reason == "template output exceeded its budget of 1,048,576 bytes"
    assert _peak_mib(template) < 20
    # Inside a macro or a {% set %} block the output is a buffer, weighed as it grows.
    for buffered in (
        "{% macro m() %}{% for i in range(100000) %}{{ 'x' * 900 }}{% endfor %}{% endmacro %}"
        "{{ m()|length }}",
        "{% set b %}{% for i in range(100000) %}{{ 'x' * 900 }}{% endfor %}{% endset %}"
        "{{ b|length }}",
    ):
        reason, _ = _fails(buffered)
        assert "built in one render" in reason
        assert _peak_mib(buffered) < 100


def test_everything_a_render_builds_counts_toward_its_total() -> None:
    # 200 values of 500 KB each: every one is small enough, all of them are not.
    template = "{% set a = 'x' * 500000 %}{% for i in range(200) %}{% set b = a ~ i %}{% endfor %}"
    reason, _ = _fails(template)
    assert reason == "template exceeded its budget of 67,108,864 bytes built in one render"
    kept = "{% set l = [] %}{% for i in range(200) %}{{ l.append('x' * 500000 ~ i) }}{% endfor %}"
    reason, _ = _fails(kept)
    assert "built in one render" in reason
    assert _peak_mib(kept) < 100


def test_time_budget_stops_a_slow_render() -> None:
    reason, took = _fails(SLOW_LOOP, Budget(seconds=0.5))
    assert reason == "template took longer than 0.5 s of CPU time"
    assert took < 3


def test_compiling_a_huge_template_counts_toward_its_time() -> None:
    template = "{{ inputs.n }} " * 20000  # compiling this alone takes many seconds
    started = time.thread_time()
    with pytest.raises(TemplateError, match=r"took longer than 0\.5 s of CPU time"):
        render_value(template, CONTEXT, Budget(seconds=0.5))
    assert time.thread_time() - started < 3


def test_a_cancelled_render_stops() -> None:
    stop = threading.Event()
    threading.Timer(0.3, stop.set).start()
    started = time.perf_counter()
    with pytest.raises(TemplateError, match="template rendering was stopped"):
        render_value(SLOW_LOOP, CONTEXT, cancel=stop)
    assert time.perf_counter() - started < 3


def test_a_render_past_its_slice_is_handed_back_and_remembered() -> None:
    template = SLOW_LOOP + " (slice)"
    with pytest.raises(TemplateError):  # compiled (and cached) first, whatever the load
        render_value(template, CONTEXT, Budget(iterations=10))
    with pytest.raises(SliceSpent):
        render_value({"a": "{{ 1 }}", "b": template}, CONTEXT, slice_seconds=0.01)
    started = time.perf_counter()
    with pytest.raises(SliceSpent):  # known slow: handed back before it starts
        render_value(template, CONTEXT, slice_seconds=10)
    assert time.perf_counter() - started < 0.5
    assert render_value("{{ 1 }}", CONTEXT, slice_seconds=0.01) == 1


def test_values_read_from_the_context_pass_through_whatever_their_size() -> None:
    body = "x" * 3_000_000
    context = {**CONTEXT, "steps": {"fetch": {"output": {"body": body, "items": [body]}}}}
    assert render_value("{{ steps.fetch.output.body }}", context) is body
    assert render_value("{{ steps.fetch.output.body | default('') }}", context) is body
    assert render_value("{{ steps.fetch.output['items'] | first }}", context) is body
    assert render_value("{{ steps.fetch.output.body | length }}", context) == 3_000_000
    with pytest.raises(TemplateError, match=ONE_VALUE):  # a copy is built
        render_value("{{ steps.fetch.output.body | upper }}", context)
    with pytest.raises(TemplateError, match="output exceeded its budget"):  # written as text
        render_value("body: {{ steps.fetch.output.body }}", context)
    with pytest.raises(TemplateError, match=ONE_VALUE):  # built of shared references
        render_value("{{ [steps.fetch.output.body, steps.fetch.output.body] }}", context)


def test_the_budget_is_shared_by_all_the_strings_of_one_value() -> None:
    loop = "{% for i in range(15000) %}{% endfor %}"
    assert render_value({"a": loop, "b": [loop]}, CONTEXT, Budget(iterations=31_000)) == {
        "a": "",
        "b": [""],
    }
    with pytest.raises(TemplateError, match="20,000 loop iterations"):
        render_value({"a": loop, "b": [loop]}, CONTEXT, SMALL)


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("{% autoescape true %}{{ '<b>' }}{% endautoescape %}", "&lt;b&gt;"),
        ("{% macro m(x) %}[{{ x }}]{% endmacro %}{{ m(1) }}{{ m('a') }}", "[1][a]"),
        ("{% macro m() %}<{{ caller() }}>{% endmacro %}{% call m() %}in{% endcall %}", "<in>"),
        ("{% for t in tree recursive %}{{ t.n }}{{ loop(t.c) }}{% endfor %}", "12"),
        ("{% for i in range(5) if i is odd %}{{ loop.index }}{{ i }}{% endfor %}", "1123"),
        ("{% for i in [] %}{{ i }}{% else %}none{% endfor %}", "none"),
        ("{% for k, v in {'a': 1}.items() %}{{ k }}={{ v }}{% endfor %}", "a=1"),
        (
            "{% for i in range(3) %}{{ loop.cycle('a', 'b') }}{{ loop.last }}{% endfor %}",
            "afalsebfalseatrue",
        ),
        ("{% set x %}hey {{ 1 }}{% endset %}{{ x }}!", "hey 1!"),
        ("{% filter upper %}abc{{ 'd' }}{% endfilter %}", "ABCD"),
        ("{{ users|join(',', attribute='name') }}", "a,b"),
        ("{{ users|sum(attribute='n') }}", 3),
        ("{{ [[1], [2]]|sum(start=[]) }}", [1, 2]),
        ("{{ '%s-%03d'|format('a', 3) }}", "a-003"),
        ("{{ '%(a)s!' % {'a': 'x'} }}", "x!"),
        ("{{ '{}/{:>4}'.format('a', 7) }}", "a/   7"),
        ("{{ '{x}'.format_map({'x': 5}) }}", "5"),
        ("{{ 'a' ~ 1 ~ none }}", "a1None"),
        ("{{ [1, 2] + [3] }}", [1, 2, 3]),
        ("{{ 'ab' * 2 }}", "abab"),
        ("{{ 2 ** 10 }}", 1024),
        (
            "{% set ns = namespace(t=0) %}{% for u in users %}{% set ns.t = ns.t + u.n %}"
            "{% endfor %}{{ ns.t }}",
            "3",
        ),
        ("{% set l = [] %}{{ l.append(1) }}{{ l }}", "null[1]"),
        ("{{ users[0:1]|map(attribute='name')|list }}", ["a"]),
        ("{{ 'x'|center(5) ~ '|' ~ 'x'.rjust(3) }}", "  x  |  x"),
        ("{{ 'a b c'|wordwrap(2) }}", "a\nb\nc"),
        ("{{ 'aaa'|replace('a', 'bb', 2) }}", "bbbba"),
        ("{{ [1, 2, 3, 4, 5]|batch(2)|list }}", [[1, 2], [3, 4], [5]]),
        ("{{ dict(a=1)|tojson }}", '{"a": 1}'),
    ],
)
def test_ordinary_templates_render_as_before(template: str, expected: Any) -> None:
    context = {
        "users": [{"name": "a", "n": 1}, {"name": "b", "n": 2}],
        "tree": [{"n": 1, "c": [{"n": 2, "c": []}]}],
    }
    assert render_value(template, context) == expected
