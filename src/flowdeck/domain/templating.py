"""Jinja2 templates and expressions: sandboxed, strict about undefined names, cached.

A string that is exactly one `{{ expr }}` evaluates to the native value of `expr` (a list stays
a list). In any other template, interpolated values that are not strings are written as JSON
(`true`, `null`, `{"a": 1}`), which is what URLs, prompts and bodies expect. `a.b` on a dict
reads the key `b` before any dict method, so JSON fields such as `items` or `keys` just work.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import jinja2
from jinja2 import StrictUndefined, Undefined, nodes
from jinja2.exceptions import SecurityError
from jinja2.sandbox import SandboxedEnvironment

# Names the engine puts in the template context (SPEC §2); `loop` only inside a loop body.
CONTEXT_NAMES: frozenset[str] = frozenset({"inputs", "steps", "secrets", "run", "loop"})

_MAX_SEQUENCE_LENGTH = 10_000_000
_MAX_EXPONENT = 10_000
_SINGLE_EXPRESSION = re.compile(r"\A\s*\{\{[-+]?(?P<inner>.*?)[-+]?\}\}\s*\Z", re.DOTALL)


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


def _finalize(value: Any) -> Any:
    """Write non-string values into text templates as JSON."""
    if value is None or isinstance(value, bool | dict | list | tuple):
        return json.dumps(value, ensure_ascii=False, default=str)
    return value


class _Sandbox(SandboxedEnvironment):
    """The sandbox, plus limits on `*` and `**` so a template cannot exhaust memory."""

    intercepted_binops = frozenset({"*", "**"})

    def getattr(self, obj: Any, attribute: str) -> Any:
        """Keys of JSON objects win over dict methods: `body.items` is the key `items`."""
        if type(obj) is dict and attribute in obj:
            return obj[attribute]
        return super().getattr(obj, attribute)

    def call_binop(
        self, context: jinja2.runtime.Context, operator: str, left: Any, right: Any
    ) -> Any:
        """Refuse huge repeated sequences and huge exponents, else apply the operator."""
        if operator == "**" and isinstance(right, int) and abs(right) > _MAX_EXPONENT:
            raise SecurityError("exponent too large")
        if operator == "*":
            for seq, times in ((left, right), (right, left)):
                if (
                    isinstance(seq, str | list | tuple)
                    and isinstance(times, int)
                    and len(seq) * times > _MAX_SEQUENCE_LENGTH
                ):
                    raise SecurityError("repeated sequence too long")
        return super().call_binop(context, operator, left, right)


ENVIRONMENT = _Sandbox(
    undefined=StrictUndefined,
    autoescape=False,
    keep_trailing_newline=True,
    finalize=_finalize,
)
GLOBAL_NAMES: frozenset[str] = frozenset(ENVIRONMENT.globals)


def is_template(text: str) -> bool:
    """True when `text` contains Jinja markup (`{{` or `{%`)."""
    return "{{" in text or "{%" in text


def _reason(exc: BaseException, text: str) -> str:
    if isinstance(exc, jinja2.TemplateSyntaxError):
        message = exc.message or "syntax error"
        return f"{message} (line {exc.lineno})" if "\n" in text.strip() else message
    if isinstance(exc, jinja2.TemplateError):
        return exc.message or type(exc).__name__
    return f"{type(exc).__name__}: {exc}"


@dataclass(frozen=True, slots=True)
class _Compiled:
    """A compiled template: a native expression or a text template."""

    expression: Callable[..., Any] | None
    template: jinja2.Template | None
    builds_containers: bool


def _builds_containers(source: str) -> bool:
    node = jinja2.parser.Parser(ENVIRONMENT, source, state="variable").parse_expression()
    kinds = (nodes.List, nodes.Tuple, nodes.Dict, nodes.Call)
    return isinstance(node, kinds) or any(True for _ in node.find_all(kinds))


def _compile_bare(source: str) -> _Compiled:
    """Compile a bare expression; raises jinja2.TemplateSyntaxError."""
    expression = ENVIRONMENT.compile_expression(source, undefined_to_none=False)
    return _Compiled(expression, None, _builds_containers(source))


@lru_cache(maxsize=8192)
def _compile_template(text: str) -> _Compiled:
    match = _SINGLE_EXPRESSION.match(text)
    if match:
        try:
            return _compile_bare(match.group("inner"))
        except jinja2.TemplateSyntaxError:
            pass  # Not one expression (e.g. "{{ a }} and {{ b }}"): a text template.
    try:
        return _Compiled(None, ENVIRONMENT.from_string(text), False)
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


def _reject_undefined(value: Any) -> None:
    if isinstance(value, Undefined):
        value._fail_with_undefined_error()
    elif isinstance(value, list | tuple):
        for item in value:
            _reject_undefined(item)
    elif isinstance(value, dict):
        for item in value.values():
            _reject_undefined(item)


def _run(compiled: _Compiled, text: str, context: Mapping[str, Any]) -> Any:
    try:
        if compiled.expression is not None:
            value = compiled.expression(context)
            if compiled.builds_containers or isinstance(value, Undefined):
                _reject_undefined(value)
            return value
        assert compiled.template is not None
        return compiled.template.render(context)
    except Exception as exc:
        raise TemplateError(text, _reason(exc, text)) from None


def render_string(text: str, context: Mapping[str, Any]) -> Any:
    """Render one string: native value for a lone `{{ expr }}`, else text; plain text as is."""
    if "{{" not in text and "{%" not in text:
        return text
    return _run(_compile_template(text), text, context)


def render_value(value: Any, context: Mapping[str, Any]) -> Any:
    """Render every string inside `value` (nested dicts and lists), keeping other values."""
    if isinstance(value, str):
        if "{{" not in value and "{%" not in value:
            return value
        return _run(_compile_template(value), value, context)
    if isinstance(value, dict):
        return {key: render_value(item, context) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [render_value(item, context) for item in value]
    return value


def evaluate_expression(expr: str, context: Mapping[str, Any]) -> Any:
    """Evaluate a bare expression (`a.b == 1`), or one wrapped in `{{ }}`, to its value."""
    return _run(_compile_expression(expr), expr, context)


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
