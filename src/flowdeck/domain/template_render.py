"""Compiling and rendering templates and expressions, each render under its budget.

A string that is exactly one `{{ expr }}` evaluates to the native value of `expr`; any other
template renders to text. Compiled templates are cached by their text.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Mapping
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

_SINGLE_EXPRESSION = re.compile(r"\A\s*\{\{[-+]?(?P<inner>.*?)[-+]?\}\}\s*\Z", re.DOTALL)
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


def failure_reason(exc: BaseException, text: str) -> str:
    """Why a template failed, in one sentence."""
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
        raise TemplateError(text, failure_reason(exc, text)) from None


def unwrap(expr: str) -> str:
    """The expression inside `{{ }}`, or `expr` as it is."""
    match = _SINGLE_EXPRESSION.match(expr)
    return match.group("inner") if match else expr


@lru_cache(maxsize=8192)
def _compile_expression(expr: str) -> _Compiled:
    try:
        return _compile_bare(unwrap(expr))
    except jinja2.TemplateSyntaxError as exc:
        raise TemplateError(expr, failure_reason(exc, expr)) from None


def _compiled(text: str, meter: Meter, compile_text: Callable[[str], _Compiled]) -> _Compiled:
    """The compiled template, unless it is known to be slow for the inline slice running."""
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


def _run(
    text: str,
    context: Mapping[str, Any],
    meter: Meter,
    compile_text: Callable[[str], _Compiled],
) -> Any:
    compiled: _Compiled | None = None
    try:
        # Compiling runs under the meter too: a long template can take long to compile.
        compiled = _compiled(text, meter, compile_text)
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
        if compiled is not None:
            compiled.slow = True
        raise
    except TemplateError:
        raise
    except Exception as exc:
        raise TemplateError(text, failure_reason(exc, text)) from None


def _render_in(value: Any, context: Mapping[str, Any], meter: Meter) -> Any:
    if isinstance(value, str):
        if "{{" not in value and "{%" not in value:
            return value
        return _run(value, context, meter, _compile_template)
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
        return _run(expr, context, meter, _compile_expression)
    finally:
        leave(token)
