"""The Jinja sandbox templates run in, with every loop, call, operator, filter and write metered.

Jinja compiles a template to Python. Its sandbox already routes calls, attribute and item
lookups and chosen operators through the environment; the code generator below also routes
every `for` loop's iterable, every `~` concatenation and every piece of output through it, so
that one `Meter` (see template_budget) sees all the work a template can make Python do.
"""

from __future__ import annotations

import json
import types
from collections.abc import Callable, Iterable, Iterator
from functools import update_wrapper
from typing import Any, TypeGuard

import jinja2
from jinja2 import nodes
from jinja2.compiler import CodeGenerator, Frame
from jinja2.exceptions import SecurityError
from jinja2.ext import Extension
from jinja2.lexer import Token, TokenStream
from jinja2.runtime import LoopContext, Undefined
from jinja2.sandbox import SandboxedEnvironment, SandboxedFormatter
from jinja2.utils import Cycler, Namespace
from markupsafe import EscapeFormatter, Markup

from flowdeck.domain.template_budget import (
    Meter,
    active_meter,
    current_meter,
    estimate,
    payload,
    text_size,
)
from flowdeck.domain.template_guards import (
    format_spec_size,
    guarded_filters,
    guarded_lipsum,
    joined_size,
    percent_size,
    text_method_size,
)

_MAX_EXPONENT = 10_000
# Adding or taking the remainder of two numbers builds nothing larger than they are.
_CHEAP_OPERATORS = frozenset({"+", "%"})
_NUMBERS = frozenset({int, float})
# Calls whose result is a new container to weigh (the global `dict`, `namespace`, `cycler`).
_BUILDERS: tuple[Any, ...] = (dict, Namespace, Cycler)


class MeteredParsing(Extension):
    """Lets a render's meter stop it while its template is still being parsed.

    Jinja compiles a template the first time it renders, and compiling a long one can take
    longer than rendering it: the tokens (here) and the code generator's nodes (below) are
    paced by the meter too, when a render is in progress.
    """

    def filter_stream(self, stream: TokenStream) -> Iterator[Token]:
        """The tokens, unchanged, one pulse of the meter each."""
        meter = active_meter()
        for token in stream:
            if meter is not None:
                meter.pulse()
            yield token


class MeteredCodeGenerator(CodeGenerator):
    """Jinja's code generator, routing loops, `~` and output through the environment's meter."""

    _buffered = False

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._loop_iterables: set[int] = set()
        self._meter = active_meter()

    def visit(self, node: nodes.Node, *args: Any, **kwargs: Any) -> Any:
        """Visit `node`; a `for` loop's iterable is wrapped in `environment.metered_iter()`."""
        if self._meter is not None:
            self._meter.pulse()
        if id(node) not in self._loop_iterables:
            return super().visit(node, *args, **kwargs)
        self._loop_iterables.discard(id(node))
        self.write("environment.metered_iter(")
        super().visit(node, *args, **kwargs)
        self.write(")")
        return None

    def visit_For(self, node: nodes.For, frame: Frame) -> None:
        """A loop ticks the meter once per item (and so does a recursive `loop(...)` call)."""
        self._loop_iterables.add(id(node.iter))
        super().visit_For(node, frame)

    def visit_Concat(self, node: nodes.Concat, frame: Frame) -> None:
        """`a ~ b`: weighed before it is joined."""
        if frame.eval_ctx.volatile:
            join = "(markup_join if context.eval_ctx.volatile else str_join)"
        elif frame.eval_ctx.autoescape:
            join = "markup_join"
        else:
            join = "str_join"
        self.write(f"environment.metered_concat({join}, (")
        for arg in node.nodes:
            self.visit(arg, frame)
            self.write(", ")
        self.write("))")

    def visit_Output(self, node: nodes.Output, frame: Frame) -> None:
        """Output into a buffer (a macro's, a `{% set %}` block's) is weighed as it is written.

        The top level's output is the render's result, weighed as the render yields it.
        """
        self._buffered = frame.buffer is not None
        super().visit_Output(node, frame)

    def _output_child_pre(self, node: nodes.Expr, frame: Frame, finalize: Any) -> None:
        if self._buffered:
            self.write("environment.metered_write(")
        super()._output_child_pre(node, frame, finalize)

    def _output_child_post(self, node: nodes.Expr, frame: Frame, finalize: Any) -> None:
        super()._output_child_post(node, frame, finalize)
        if self._buffered:
            self.write(")")

    def _output_const_repr(self, group: Iterable[Any]) -> str:
        text = super()._output_const_repr(group)
        return f"environment.metered_write({text})" if self._buffered else text


def _int(value: Any) -> TypeGuard[int]:
    """True for an int that is not a bool."""
    return isinstance(value, int) and not isinstance(value, bool)


def binop_size(operator: str, left: Any, right: Any, cap: int) -> int:
    """About how many bytes `left <operator> right` builds, before it runs."""
    if operator == "+":
        if isinstance(left, str | bytes) and isinstance(right, str | bytes):
            return len(left) + len(right)
        if isinstance(left, list | tuple) and isinstance(right, list | tuple):
            return 8 * (len(left) + len(right))
    elif operator == "*":
        for seq, times in ((left, right), (right, left)):
            if isinstance(seq, str | bytes | list | tuple) and _int(times):
                each = len(seq) if isinstance(seq, str | bytes) else estimate(seq, cap)
                return each * max(times, 0)
        if _int(left) and _int(right):
            return (abs(left).bit_length() + abs(right).bit_length()) // 8
    elif operator == "**":
        if _int(left) and _int(right) and right > 0:
            if right > _MAX_EXPONENT:
                raise SecurityError("exponent too large")
            return abs(left).bit_length() * right // 8
    elif operator == "%" and isinstance(left, str | bytes):
        fmt = left if isinstance(left, str) else left.decode("latin-1")
        return percent_size(fmt, right, cap)
    return 0


class _MeteredFormatter(SandboxedFormatter):
    """`str.format` whose fields (and their widths) are weighed before they are written."""

    def __init__(self, env: jinja2.Environment, meter: Meter, **kwargs: Any) -> None:
        super().__init__(env, **kwargs)
        self._meter = meter
        self._size = 0

    def format_field(self, value: Any, format_spec: str) -> Any:
        cap = self._meter.cap
        self._meter.allow(max(format_spec_size(format_spec, cap), text_size(value, cap)))
        piece = super().format_field(value, format_spec)
        self._size += len(piece)
        self._meter.allow(self._size)
        return piece


class _MeteredEscapeFormatter(_MeteredFormatter, EscapeFormatter):
    pass


def _finalize(value: Any) -> Any:
    """Write non-string values into text templates as JSON (weighed first)."""
    if isinstance(value, str):
        return value
    if value is None or isinstance(value, bool):
        return json.dumps(value)
    if isinstance(value, int | float):
        return value
    if not isinstance(value, Undefined):
        meter = current_meter()
        meter.allow(estimate(value, meter.cap))
    if isinstance(value, dict | list | tuple):
        return json.dumps(value, ensure_ascii=False, default=str)
    return value


class Sandbox(SandboxedEnvironment):
    """The sandbox, charging the render's meter for everything that can cost time or memory."""

    code_generator_class = MeteredCodeGenerator
    intercepted_binops = frozenset({"+", "*", "**", "%"})

    def __init__(self, **options: Any) -> None:
        super().__init__(finalize=_finalize, extensions=[MeteredParsing], **options)
        self.filters = guarded_filters(self.filters)
        self.globals["lipsum"] = guarded_lipsum(jinja2.utils.generate_lorem_ipsum)

    def getattr(self, obj: Any, attribute: str) -> Any:
        """Keys of JSON objects win over dict methods: `body.items` is the key `items`."""
        if type(obj) is dict and attribute in obj:
            return obj[attribute]
        return super().getattr(obj, attribute)

    def getitem(self, obj: Any, argument: Any) -> Any:
        """`obj[argument]`; a slice is a copy, weighed."""
        value = super().getitem(obj, argument)
        if type(argument) is slice:
            current_meter().build(payload(value))
        return value

    def call_binop(
        self, context: jinja2.runtime.Context, operator: str, left: Any, right: Any
    ) -> Any:
        """Weigh what the operator would build, apply it, and count the result."""
        if operator in _CHEAP_OPERATORS and type(left) in _NUMBERS and type(right) in _NUMBERS:
            return self.binop_table[operator](left, right)  # `steps.x.output + 1`: the hot path
        meter = current_meter()
        meter.allow(binop_size(operator, left, right, meter.cap))
        result = super().call_binop(context, operator, left, right)
        meter.build(payload(result))
        return result

    def call(
        __self,
        __context: jinja2.runtime.Context,
        __obj: Any,
        *args: Any,
        **kwargs: Any,
    ) -> Any:
        """Tick once per call; weigh what string and container methods build or add."""
        meter = current_meter()
        meter.tick()
        if isinstance(__obj, LoopContext) and args:  # a recursive loop's `loop(children)`
            args = (__self.metered_iter(args[0]), *args[1:])
        owner = getattr(__obj, "__self__", None)
        name = getattr(__obj, "__name__", "")
        before = len(owner) if isinstance(owner, list | dict) else None
        if isinstance(owner, str | bytes):
            if name == "join" and args:
                args = (list(args[0]), *args[1:])
                meter.allow(joined_size(len(owner), args[0], meter.cap))
            else:
                meter.allow(text_method_size(owner, name, args, kwargs))
        elif _int(owner) and name == "to_bytes":
            length = args[0] if args else kwargs.get("length", 1)
            meter.allow(length if _int(length) else 0)
        result = super().call(__context, __obj, *args, **kwargs)
        if isinstance(owner, list | dict) and before is not None:
            # `append`, `extend`, `update`…: what the container holds now is held for good.
            meter.build((len(owner) - before) * (8 if type(owner) is list else 16))
            if name == "copy":
                meter.build(payload(result))
        elif isinstance(owner, str | bytes | int | type) or any(__obj is b for b in _BUILDERS):
            meter.build(payload(result))
        return result

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        """`str.format` and `format_map`, sandboxed as Jinja does, with fields weighed."""
        methods = types.MethodType | types.BuiltinMethodType
        if not isinstance(value, methods) or value.__name__ not in ("format", "format_map"):
            return None
        text = value.__self__
        if not isinstance(text, str):
            return None
        is_map = value.__name__ == "format_map"
        kind = type(text)
        env = self

        def wrapper(*args: Any, **kwargs: Any) -> str:
            if is_map:
                if kwargs:
                    raise TypeError("format_map() takes no keyword arguments")
                if len(args) != 1:
                    raise TypeError(f"format_map() takes exactly one argument ({len(args)} given)")
                kwargs, args = args[0], ()
            meter = current_meter()
            formatter: _MeteredFormatter
            if isinstance(text, Markup):
                formatter = _MeteredEscapeFormatter(env, meter, escape=text.escape)
            else:
                formatter = _MeteredFormatter(env, meter)
            result = kind(formatter.vformat(text, args, kwargs))
            meter.build(len(result))
            return result

        return update_wrapper(wrapper, value)

    def metered_iter(self, iterable: Iterable[Any]) -> Iterator[Any]:
        """`iterable`, one tick per item."""
        meter = current_meter()
        for item in iterable:
            meter.tick()
            yield item

    def metered_concat(self, join: Callable[[Iterable[Any]], str], items: tuple[Any, ...]) -> str:
        """`a ~ b ~ …`, weighed before it is joined."""
        meter = current_meter()
        meter.allow(sum(text_size(item, meter.cap) for item in items))
        result = join(items)
        meter.build(len(result))
        return result

    def metered_write(self, text: str) -> str:
        """A piece written into a macro's, a block's or a `{% set %}`'s buffer."""
        current_meter().build(len(text))
        return text
