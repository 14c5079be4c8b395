"""Jinja2 templates and expressions: sandboxed, budgeted, strict about undefined names, cached.

A string that is exactly one `{{ expr }}` evaluates to the native value of `expr` (a list stays
a list). In any other template, interpolated values that are not strings are written as JSON
(`true`, `null`, `{"a": 1}`), which is what URLs, prompts and bodies expect. `a.b` on a dict
reads the key `b` before any dict method, so JSON fields such as `items` or `keys` just work.

Templates are untrusted code (SPEC §9): each render runs under a `Budget` of loop iterations,
CPU time and size, and fails with a `TemplateError` saying which limit it hit. A render given
an inline time slice raises `SliceSpent` when the slice runs out, so that the caller can run it
again off its event loop. Rendering lives in template_render, the sandbox in template_sandbox
and template_guards, the budget in template_budget; this module also reads what a template
refers to (for validation) without running it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import jinja2
from jinja2 import nodes

from flowdeck.domain.template_budget import DEFAULT_BUDGET, Budget, SliceSpent
from flowdeck.domain.template_render import (
    ENVIRONMENT,
    GLOBAL_NAMES,
    TemplateError,
    evaluate_expression,
    failure_reason,
    is_template,
    render_string,
    render_value,
    shorten,
    unwrap,
)

__all__ = [
    "DEFAULT_BUDGET",
    "ENVIRONMENT",
    "GLOBAL_NAMES",
    "Budget",
    "SliceSpent",
    "TemplateError",
    "evaluate_expression",
    "is_template",
    "render_string",
    "render_value",
    "shorten",
]

# Names the engine puts in the template context (SPEC §2); `loop` only inside a loop body.
CONTEXT_NAMES: frozenset[str] = frozenset({"inputs", "steps", "secrets", "run", "loop"})


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
    parser = jinja2.parser.Parser(ENVIRONMENT, unwrap(text), state="variable")
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
        return _Analysis(failure_reason(exc, text))
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
