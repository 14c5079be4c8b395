"""Size bounds for the template operations that can build far more than they are given.

Most operations make at most a few times what they read, so weighing their result afterwards
is enough. These can make arbitrarily much from a small input (a width, a count, a separator
repeated once per item, a shared reference written out many times), so their result is bounded
before they run: filters, string methods, `%` formatting and `lipsum`.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Mapping
from functools import update_wrapper
from typing import Any

from jinja2 import filters as jinja_filters
from jinja2.utils import pass_environment, pass_eval_context

from flowdeck.domain.template_budget import Meter, current_meter, estimate, payload, text_size

Precheck = Callable[..., None]

# Filters that return (part of) what they are given, or a small number: nothing to weigh.
_SELECTING = frozenset(
    {
        "abs",
        "attr",
        "count",
        "d",
        "default",
        "filesizeformat",
        "first",
        "float",
        "int",
        "items",
        "last",
        "length",
        "map",
        "max",
        "min",
        "random",
        "reject",
        "rejectattr",
        "round",
        "select",
        "selectattr",
        "unique",
        "wordcount",
    }
)


def _arg(
    args: tuple[Any, ...], kwargs: Mapping[str, Any], index: int, name: str, default: Any
) -> Any:
    if len(args) > index:
        return args[index]
    return kwargs.get(name, default)


def _int(value: Any) -> int:
    """An int argument, or 0 when it is not one (the operation itself then refuses it)."""
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _text(meter: Meter, value: Any, *_args: Any, **_kwargs: Any) -> None:
    meter.allow(text_size(value, meter.cap))


def _center(meter: Meter, value: Any, *args: Any, **kwargs: Any) -> None:
    width = _int(_arg(args, kwargs, 0, "width", 80))
    meter.allow(max(text_size(value, meter.cap), width))


def _indent(meter: Meter, value: Any, *args: Any, **kwargs: Any) -> None:
    width = _arg(args, kwargs, 0, "width", 4)
    step = len(width) if isinstance(width, str) else _int(width)
    size = text_size(value, meter.cap)
    meter.allow(size)
    lines = str(value).count("\n") + 1 if isinstance(value, str) else size
    meter.allow(size + lines * step)


def _wordwrap(meter: Meter, value: Any, *args: Any, **kwargs: Any) -> None:
    size = text_size(value, meter.cap)
    meter.allow(size)
    width = max(_int(_arg(args, kwargs, 0, "width", 79)), 1)
    wrapstring = _arg(args, kwargs, 2, "wrapstring", None)
    joint = len(wrapstring) if isinstance(wrapstring, str) else 1
    words = len(value.split()) if isinstance(value, str) else size
    meter.allow(size + (size // width + words + 1) * joint)


def _replace(meter: Meter, value: Any, *args: Any, **kwargs: Any) -> None:
    size = text_size(value, meter.cap)
    meter.allow(size)
    old, new = _arg(args, kwargs, 0, "old", ""), _arg(args, kwargs, 1, "new", "")
    count = _arg(args, kwargs, 2, "count", None)
    if not (isinstance(value, str) and isinstance(old, str) and isinstance(new, str)):
        meter.allow(size * (text_size(new, meter.cap) + 1))
        return
    meter.allow(replaced_size(value, old, new, count if isinstance(count, int) else -1))


def replaced_size(text: str | bytes, old: Any, new: Any, count: int) -> int:
    """The length of `text.replace(old, new, count)`, without building it."""
    found = text.count(old) if old else len(text) + 1
    if count >= 0:
        found = min(found, count)
    return len(text) + found * max(len(new) - len(old), 0)


def _format(meter: Meter, value: Any, *args: Any, **kwargs: Any) -> None:
    meter.allow(text_size(value, meter.cap))
    if isinstance(value, str):
        meter.allow(percent_size(value, kwargs or args, meter.cap))


def _tojson(meter: Meter, value: Any, *args: Any, **kwargs: Any) -> None:
    indent = _arg(args, kwargs, 0, "indent", None)
    step = indent if isinstance(indent, str) else _int(indent)
    # Escaped characters take up to six: weigh that for the input only, then the result.
    meter.allow(estimate(value, meter.cap, step))


def _pprint(meter: Meter, value: Any, *_args: Any, **_kwargs: Any) -> None:
    meter.allow(estimate(value, meter.cap, 1))


def _list(meter: Meter, value: Any, *_args: Any, **_kwargs: Any) -> None:
    if isinstance(value, str | bytes):
        meter.allow(8 * len(value))


def _batch(meter: Meter, value: Any, *args: Any, **kwargs: Any) -> None:
    meter.allow(8 * _int(_arg(args, kwargs, 0, "linecount", 0)))


def _slice(meter: Meter, value: Any, *args: Any, **kwargs: Any) -> None:
    meter.allow(64 * _int(_arg(args, kwargs, 0, "slices", 0)))


def _urlize(meter: Meter, value: Any, *args: Any, **kwargs: Any) -> None:
    size = text_size(value, meter.cap)
    meter.allow(size)
    extra = sum(
        len(x) if isinstance(x, str) else 0
        for x in (_arg(args, kwargs, 2, "target", None), _arg(args, kwargs, 3, "rel", None))
    )
    text = value if isinstance(value, str) else ""
    links = sum(1 for word in text.split() if "." in word or "@" in word or ":" in word)
    meter.allow(2 * size + links * (64 + extra))


_PRECHECKS: dict[str, Precheck] = {
    "batch": _batch,
    "capitalize": _text,
    "center": _center,
    "e": _text,
    "escape": _text,
    "forceescape": _text,
    "format": _format,
    "indent": _indent,
    "list": _list,
    "lower": _text,
    "pprint": _pprint,
    "replace": _replace,
    "safe": _text,
    "slice": _slice,
    "string": _text,
    "striptags": _text,
    "title": _text,
    "tojson": _tojson,
    "trim": _text,
    "truncate": _text,
    "upper": _text,
    "urlencode": _text,
    "urlize": _urlize,
    "wordwrap": _wordwrap,
    "xmlattr": _text,
}

_PERCENT_SPEC = re.compile(
    r"%(?:\((?P<key>[^)]*)\))?[-#0 +]*(?P<width>\*|\d+)?(?:\.(?P<precision>\*|\d+))?"
    r"[hlL]?(?P<kind>[a-zA-Z%])"
)


def percent_size(fmt: str, args: Any, cap: int) -> int:
    """About how long `fmt % args` is: each field's value, width and precision."""
    positional = list(args) if isinstance(args, tuple) else [args]
    mapping = args if isinstance(args, Mapping) else None
    used = 0
    total = len(fmt)
    for spec in _PERCENT_SPEC.finditer(fmt):
        if spec["kind"] == "%":
            continue
        for part in (spec["width"], spec["precision"]):
            if part == "*":
                given = positional[used] if used < len(positional) else 0
                used += 1
                total += abs(_int(given))
            elif part:
                total += int(part) if len(part) <= 12 else cap + 1
        if spec["key"] is not None and mapping is not None:
            total += estimate(mapping.get(spec["key"]), cap)
        else:
            total += estimate(positional[used] if used < len(positional) else None, cap)
            used += 1
        if total > cap:
            break
    return total


_SPEC_NUMBER = re.compile(r"\d+")


def format_spec_size(spec: str, cap: int) -> int:
    """The widest a `str.format` field can be made by its spec (width or precision)."""
    numbers = _SPEC_NUMBER.findall(spec)
    return max((int(n) if len(n) <= 12 else cap + 1 for n in numbers), default=0)


def text_method_size(owner: str | bytes, name: str, args: tuple[Any, ...], kwargs: Any) -> int:
    """About how long the result of `owner.<name>(*args)` is, for the methods that can grow."""
    n = len(owner)
    if name in ("center", "ljust", "rjust", "zfill"):
        return max(n, _int(_arg(args, kwargs, 0, "width", 0)))
    if name == "expandtabs":
        tabs = owner.count("\t") if isinstance(owner, str) else owner.count(b"\t")
        return n + tabs * max(_int(_arg(args, kwargs, 0, "tabsize", 8)), 0)
    if name == "replace" and len(args) >= 2:
        old, new = args[0], args[1]
        if isinstance(old, type(owner)) and isinstance(new, type(owner)):
            count = _arg(args, kwargs, 2, "count", -1)
            return replaced_size(owner, old, new, count if isinstance(count, int) else -1)
    if name == "translate" and args and isinstance(args[0], Mapping):
        longest = max((len(v) for v in args[0].values() if isinstance(v, str | bytes)), default=1)
        return n * max(longest, 1)
    return n


def joined_size(separator: int, items: list[Any], cap: int) -> int:
    """About how long joining `items` with a separator of that length is."""
    total = max(len(items) - 1, 0) * separator
    for item in items:
        total += len(item) if isinstance(item, str | bytes) else estimate(item, cap)
        if total > cap:
            break
    return total


@pass_eval_context
def _join(eval_ctx: Any, value: Any, d: Any = "", attribute: Any = None) -> str:
    """The `join` filter, weighed first: the items written out and a separator between each."""
    meter = current_meter()
    if attribute is not None:
        value = map(jinja_filters.make_attrgetter(eval_ctx.environment, attribute), value)
    items = list(value)
    meter.allow(joined_size(text_size(d, meter.cap), items, meter.cap))
    result = jinja_filters.sync_do_join(eval_ctx, items, d)
    meter.build(len(result))
    return result


@pass_environment
def _sum(environment: Any, iterable: Any, attribute: Any = None, start: Any = 0) -> Any:
    """The `sum` filter; lists and tuples are chained in linear time (summing is quadratic)."""
    meter = current_meter()
    if attribute is not None:
        iterable = map(jinja_filters.make_attrgetter(environment, attribute), iterable)
    items = list(iterable)
    if isinstance(start, list | tuple):
        kind = type(start)
        for item in items:
            if type(item) is not kind:
                raise TypeError(
                    f'can only concatenate {kind.__name__} (not "{type(item).__name__}") '
                    f"to {kind.__name__}"
                )
        meter.allow(8 * (len(start) + sum(len(item) for item in items)))
        result = kind(itertools.chain(start, *items))
    else:
        result = sum(items, start)
    meter.build(payload(result))
    return result


def _guarded(name: str, func: Callable[..., Any]) -> Callable[..., Any]:
    """`func` with its precheck before and its result weighed after."""
    precheck = _PRECHECKS.get(name)
    # Filters marked @pass_context (and the like) get the context before their value.
    skip = 1 if getattr(func, "jinja_pass_arg", None) is not None else 0

    def guarded(*args: Any, **kwargs: Any) -> Any:
        meter = current_meter()
        if precheck is not None and len(args) > skip:
            precheck(meter, *args[skip:], **kwargs)
        result = func(*args, **kwargs)
        meter.build(payload(result))
        return result

    return update_wrapper(guarded, func)


def guarded_filters(filters: Mapping[str, Callable[..., Any]]) -> dict[str, Callable[..., Any]]:
    """Jinja's filters, each one that builds a value weighed by the render's meter."""
    guarded: dict[str, Callable[..., Any]] = {}
    for name, func in filters.items():
        if name == "join":
            guarded[name] = _join
        elif name == "sum":
            guarded[name] = _sum
        elif name in _SELECTING:
            guarded[name] = func
        else:
            guarded[name] = _guarded(name, func)
    return guarded


def guarded_lipsum(lipsum: Callable[..., str]) -> Callable[..., str]:
    """`lipsum()` that refuses to write more paragraphs and words than one value may hold."""

    def guarded(n: Any = 5, html: Any = True, min: Any = 20, max: Any = 100) -> str:
        meter = current_meter()
        meter.allow(_int(n) * _int(max) * 12)
        result = lipsum(n, html, min, max)
        meter.build(len(result))
        return result

    return update_wrapper(guarded, lipsum)
