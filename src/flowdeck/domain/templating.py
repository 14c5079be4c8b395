"""Jinja2 templates and expressions: sandboxed, budgeted, strict about undefined names, cached.

A string that is exactly one `{{ expr }}` evaluates to the native value of `expr` (a list stays
a list). In any other template, interpolated values that are not strings are written as JSON
(`true`, `null`, `{"a": 1}`), which is what URLs, prompts and bodies expect. `a.b` on a dict
reads the key `b` before any dict method, so JSON fields such as `items` or `keys` just work.

Templates are untrusted code (SPEC §9): each render runs under a `Budget` of loop iterations,
time and size (see template_budget and template_sandbox), and fails with a `TemplateError`
saying which limit it hit. A render given an inline time slice raises `SliceSpent` when the
slice runs out, so that the caller can run it again off its event loop.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import jinja2
from jinja2 import StrictUndefined, Undefined, nodes

from flowdeck.domain.template_budget import (
    DEFAULT_BUDGET,
    Budget,
    BudgetExceeded,
    Meter,
    SliceSpent,
    enter,
    estimate,
    leave,
)
from flowdeck.domain.template_sandbox import Sandbox

__all__ = ["DEFAULT_BUDGET", "Budget", "SliceSpent", "TemplateError"]

# Names the engine puts in the template context (SPEC §2); `loop` only inside a loop body.
CONTEXT_NAMES: frozenset[str] = frozenset({"inputs", "steps", "secrets", "run", "loop"})

_SINGLE_EXPRESSION = re.compile(r"\A\s*\{\{[-+]?(?P<inner>.*?)[-+]?\}\}\s*\Z", re.DOTALL)
# Compiling a long template can itself take a while: never on an inline slice.
_INLINE_SOURCE_LIMIT = 4096
# Expressions made only of these read what the context holds, building nothing new: a large
# result is passed through, not built, so it is not weighed against the budget.
_READING_NODES = (
    nodes.Name,
    nodes.Getattr,
    nodes.Getitem,
    nodes.Slice,
    nodes.Const,
    nodes.CondExpr,
    nodes.And,
    nodes.Or,
    nodes.Not,
    nodes.Compare,
    nodes.Operand,
    nodes.Test,
    nodes.Keyword,
)
_SCALARS = (str, int, float, bool, type(None))
_READING_FILTERS = frozenset(
    {"abs", "attr", "count", "d", "default", "first", "float", "int", "last", "length"}
    | {"max", "min", "random", "round"}
)


class TemplateError(Exception):
    """A template or expression that does not parse or cannot be evaluated."""

    def __init__(self, template: str, reason: str) -> None:
        super().__init__(f"{shorten(template)}: {reason}")
        self.template = template
        self.reason = reason


def shorten(text: str, limit: int = 80) -> str:
    """`text` on one line, quoted, cut to `limit` characters with an ellipsis."""
    flat = " ".join(text.split())
    if len(flat) > limit:
        flat = flat[: limit - 1] + "…"
    return f'"{flat}"'


ENVIRONMENT = Sandbox(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True)
GLOBAL_NAMES: frozenset[str] = frozenset(ENVIRONMENT.globals)


def is_template(text: str) -> bool:
    """True when `text` contains Jinja markup (`{{` or `{%`)."""
    return "{{" in text or "{%" in text


def _reason(exc: BaseException, text: str) -> str:
    if isinstance(exc, BudgetExceeded):
        return str(exc)
    if isinstance(exc, RecursionError):
        return "template calls itself too deeply"
    if isinstance(exc, jinja2.TemplateSyntaxError):
        message = exc.message or "syntax error"
        return f"{message} (line {exc.lineno})" if "\n" in text.strip() else message
    if isinstance(exc, jinja2.TemplateError):
        return exc.message or type(exc).__name__
    return f"{type(exc).__name__}: {exc}"


@dataclass(slots=True, eq=False)
class _Compiled:
    """A compiled template: a native expression or a text template."""

    expression: Callable[..., Any] | None
    template: jinja2.Template | None
    builds_containers: bool = False
    reads_only: bool = False
    # It once ran past an inline slice: go straight off the event loop next time.
    slow: bool = False


def _reads_only(node: nodes.Node) -> bool:
    for child in (node, *node.find_all(nodes.Node)):
        if isinstance(child, nodes.Filter):
            if child.name not in _READING_FILTERS:
                return False
        elif not isinstance(child, _READING_NODES):
            return False
    return True


def _compile_bare(source: str) -> _Compiled:
    """Compile a bare expression; raises jinja2.TemplateSyntaxError."""
    expression = ENVIRONMENT.compile_expression(source, undefined_to_none=False)
    node = jinja2.parser.Parser(ENVIRONMENT, source, state="variable").parse_expression()
    kinds = (nodes.List, nodes.Tuple, nodes.Dict, nodes.Call)
    builds = isinstance(node, kinds) or any(True for _ in node.find_all(kinds))
    return _Compiled(expression, None, builds, _reads_only(node))


@lru_cache(maxsize=8192)
def _compile_template(text: str) -> _Compiled:
    match = _SINGLE_EXPRESSION.match(text)
    if match:
        try:
            return _compile_bare(match.group("inner"))
        except jinja2.TemplateSyntaxError:
            pass  # Not one expression (e.g. "{{ a }} and {{ b }}"): a text template.
    try:
        return _Compiled(None, ENVIRONMENT.from_string(text))
    except jinja2.TemplateSyntaxError as exc:
        raise TemplateError(text, _reason(exc, text)) from None


def _unwrap(expr: str) -> str:
    match = _SINGLE_EXPRESSION.match(expr)
    return match.group("inner") if match else expr


@lru_cache(maxsize=8192)
def _compile_expression(expr: str) -> _Compiled:
    try:
        return _compile_bare(_unwrap(expr))
    except jinja2.TemplateSyntaxError as exc:
        raise TemplateError(expr, _reason(exc, expr)) from None


def _compiled(text: str, meter: Meter, compile_text: Callable[[str], _Compiled]) -> _Compiled:
    """The compiled template, unless it is known to be slow for the inline slice running."""
    if meter.sliced and len(text) > _INLINE_SOURCE_LIMIT:
        raise SliceSpent
    compiled = compile_text(text)
    if meter.sliced and compiled.slow:
        raise SliceSpent
    return compiled


def _reject_undefined(value: Any) -> None:
    if isinstance(value, Undefined):
        value._fail_with_undefined_error()
    elif isinstance(value, list | tuple):
        for item in value:
            _reject_undefined(item)
    elif isinstance(value, dict):
        for item in value.values():
            _reject_undefined(item)


def _text_output(template: jinja2.Template, context: Mapping[str, Any], meter: Meter) -> str:
    """The template's text, refused as soon as it grows past the budget's size."""
    pieces = []
    size = 0
    for piece in template.generate(context):
        size += len(piece)
        if size > meter.cap:
            meter.write(size)  # raises: over the budget
        pieces.append(piece)
    meter.write(size)
    return "".join(pieces)


def _run(compiled: _Compiled, text: str, context: Mapping[str, Any], meter: Meter) -> Any:
    try:
        if compiled.expression is not None:
            value = compiled.expression(context)
            if compiled.builds_containers or isinstance(value, Undefined):
                _reject_undefined(value)
            if not compiled.reads_only and not isinstance(value, _SCALARS):
                # A value built of shared references is small until it is written out.
                meter.allow(estimate(value, meter.cap))
            return value
        assert compiled.template is not None
        return _text_output(compiled.template, context, meter)
    except SliceSpent:
        compiled.slow = True
        raise
    except Exception as exc:
        raise TemplateError(text, _reason(exc, text)) from None


def _render_in(value: Any, context: Mapping[str, Any], meter: Meter) -> Any:
    if isinstance(value, str):
        if "{{" not in value and "{%" not in value:
            return value
        return _run(_compiled(value, meter, _compile_template), value, context, meter)
    if isinstance(value, dict):
        return {key: _render_in(item, context, meter) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_render_in(item, context, meter) for item in value]
    return value


def render_string(
    text: str,
    context: Mapping[str, Any],
    budget: Budget = DEFAULT_BUDGET,
    *,
    slice_seconds: float | None = None,
    cancel: threading.Event | None = None,
) -> Any:
    """Render one string: native value for a lone `{{ expr }}`, else text; plain text as is."""
    return render_value(text, context, budget, slice_seconds=slice_seconds, cancel=cancel)


def render_value(
    value: Any,
    context: Mapping[str, Any],
    budget: Budget = DEFAULT_BUDGET,
    *,
    slice_seconds: float | None = None,
    cancel: threading.Event | None = None,
) -> Any:
    """Render every string inside `value` (nested dicts and lists), keeping other values.

    The whole value renders under one `budget`. With `slice_seconds`, raises `SliceSpent`
    once that much time has passed; `cancel`, once set, stops the render at its next check.
    """
    if isinstance(value, str) and "{{" not in value and "{%" not in value:
        return value
    meter = Meter(budget, slice_seconds=slice_seconds, cancel=cancel)
    token = enter(meter)
    try:
        return _render_in(value, context, meter)
    finally:
        leave(token)


def evaluate_expression(
    expr: str,
    context: Mapping[str, Any],
    budget: Budget = DEFAULT_BUDGET,
    *,
    slice_seconds: float | None = None,
    cancel: threading.Event | None = None,
) -> Any:
    """Evaluate a bare expression (`a.b == 1`), or one wrapped in `{{ }}`, to its value."""
    meter = Meter(budget, slice_seconds=slice_seconds, cancel=cancel)
    token = enter(meter)
    try:
        return _run(_compiled(expr, meter, _compile_expression), expr, context, meter)
    finally:
        leave(token)


@dataclass(frozen=True, slots=True)
class _Analysis:
    """What a template reads from its context, or why it does not parse."""

    error: str | None
    steps: frozenset[str] = frozenset()
    inputs: frozenset[str] = frozenset()
    names: frozenset[str] = frozenset()
    secrets: frozenset[str] = frozenset()


_NOTHING = _Analysis(None)
_LOADING_NODES = (nodes.Extends, nodes.Include, nodes.Import, nodes.FromImport)


def _attribute_names(tree: nodes.Node, variable: str) -> frozenset[str]:
    """Names read as `variable.X`, `variable["X"]` or `variable['X']` (not method calls)."""
    called = {id(call.node) for call in tree.find_all(nodes.Call)}
    found: set[str] = set()
    for node in tree.find_all((nodes.Getattr, nodes.Getitem)):
        if not isinstance(node, nodes.Getattr | nodes.Getitem):
            continue
        base = node.node
        if not (isinstance(base, nodes.Name) and base.name == variable and base.ctx == "load"):
            continue
        if isinstance(node, nodes.Getattr) and id(node) not in called:
            found.add(node.attr)
        elif (
            isinstance(node, nodes.Getitem)
            and isinstance(node.arg, nodes.Const)
            and isinstance(node.arg.value, str)
        ):
            found.add(node.arg.value)
    return frozenset(found)


def _free_names(tree: nodes.Template) -> frozenset[str]:
    """Variables read from the context: not globals, not set or looped over in the template.

    Like `jinja2.meta.find_undeclared_variables` without running the code generator
    (which costs as much as parsing); `loop` inside a `{% for %}` is Jinja's own.
    """
    names = list(tree.find_all(nodes.Name))
    local = {n.name for n in names if n.ctx in ("store", "param")} | GLOBAL_NAMES
    free = {n.name for n in names if n.ctx == "load" and n.name not in local}
    if "loop" in free:
        in_for = {
            id(name)
            for loop in tree.find_all(nodes.For)
            for statement in loop.body
            for name in statement.find_all(nodes.Name)
        }
        if all(id(n) in in_for for n in names if n.name == "loop" and n.ctx == "load"):
            free.discard("loop")
    return frozenset(free)


def _parse(text: str, expression: bool) -> nodes.Template:
    """Parse without compiling (five times cheaper); raises jinja2.TemplateSyntaxError."""
    if not expression:
        return ENVIRONMENT.parse(text)
    parser = jinja2.parser.Parser(ENVIRONMENT, _unwrap(text), state="variable")
    expr = parser.parse_expression()
    if not parser.stream.eos:
        raise jinja2.TemplateSyntaxError("chunk after expression", parser.stream.current.lineno)
    tree = nodes.Template([nodes.Output([expr], lineno=1)], lineno=1)
    tree.set_environment(ENVIRONMENT)
    return tree


def _compile_time_problem(tree: nodes.Template) -> str | None:
    """What Jinja would only report when compiling: unknown filters and tests, includes."""
    for node in tree.find_all((nodes.Filter, nodes.Test, *_LOADING_NODES)):
        if isinstance(node, nodes.Filter) and node.name not in ENVIRONMENT.filters:
            return f"No filter named '{node.name}'."
        if isinstance(node, nodes.Test) and node.name not in ENVIRONMENT.tests:
            return f"No test named '{node.name}'."
        if isinstance(node, _LOADING_NODES):
            return "templates cannot extend, include or import other templates"
    return None


@lru_cache(maxsize=8192)
def _analyse(text: str, expression: bool) -> _Analysis:
    if expression and not text.strip():
        return _Analysis("expression is empty")
    if not expression and not is_template(text):
        return _NOTHING
    try:
        tree = _parse(text, expression)
    except jinja2.TemplateSyntaxError as exc:
        return _Analysis(_reason(exc, text))
    return _Analysis(
        error=_compile_time_problem(tree),
        steps=_attribute_names(tree, "steps"),
        inputs=_attribute_names(tree, "inputs"),
        names=_free_names(tree),
        secrets=_attribute_names(tree, "secrets"),
    )


def check_template(text: str) -> str | None:
    """Jinja's syntax error message for a template, or None when it parses."""
    return _analyse(text, False).error


def check_expression(expr: str) -> str | None:
    """Jinja's syntax error message for an expression, or None when it parses."""
    return _analyse(expr, True).error


def referenced_steps(text: str, *, expression: bool = False) -> set[str]:
    """Step ids read as `steps.X` / `steps["X"]`; empty when the text does not parse."""
    return set(_analyse(text, expression).steps)


def referenced_inputs(text: str, *, expression: bool = False) -> set[str]:
    """Input names read as `inputs.X` / `inputs["X"]`; empty when the text does not parse."""
    return set(_analyse(text, expression).inputs)


def referenced_names(text: str, *, expression: bool = False) -> set[str]:
    """Context variables the text reads (`steps`, `loop`, `foo`…), not Jinja globals."""
    return set(_analyse(text, expression).names)


def iter_strings(value: Any) -> Iterator[str]:
    """Every string inside `value`, depth first through dicts and lists."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from iter_strings(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from iter_strings(item)


def iter_string_paths(value: Any, path: str = "") -> Iterator[tuple[str, str]]:
    """Every string inside `value` with its path (`headers.Authorization`, `items[0]`)."""
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from iter_string_paths(item, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            yield from iter_string_paths(item, f"{path}[{index}]")


def referenced_steps_in(value: Any) -> set[str]:
    """Step ids referenced by any template inside `value`."""
    found: set[str] = set()
    for text in iter_strings(value):
        if is_template(text):
            found |= _analyse(text, False).steps
    return found


def referenced_secrets_in(value: Any) -> set[str]:
    """Secret names read as `secrets.X` / `secrets["X"]` by any template inside `value`."""
    found: set[str] = set()
    for text in iter_strings(value):
        if is_template(text):
            found |= _analyse(text, False).secrets
    return found
