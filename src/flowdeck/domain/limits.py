"""Bounds on what may enter Flowdeck: integer ranges the database holds, nesting depth, text
without NUL characters, finite numbers.

Every request body, workflow definition and run input is checked against them before it is
stored, so nothing downstream (PostgreSQL's text and jsonb, recursive JSON encoders, templates)
meets a value it cannot handle.
"""

from __future__ import annotations

import json
import math
from typing import Any

# PostgreSQL INTEGER: workflow versions, event sequence numbers, an agent's max_tokens.
INT32_MAX = 2**31 - 1
# PostgreSQL BIGINT (and SQLite INTEGER): OFFSET and other counts.
INT64_MAX = 2**63 - 1
# Objects and arrays inside one another, counted from the outermost value (a scalar is 0,
# `{"a": 1}` is 1). Deep enough for any real document, shallow enough for recursive code.
MAX_NESTING = 64
# The largest definition, as YAML/JSON text or as compact JSON (the default request body cap).
MAX_DEFINITION_BYTES = 1024 * 1024
# At most this many problems are listed for one value; the rest are counted.
MAX_PROBLEMS = 20

NUL_SENTENCE = "must not contain NUL characters (\\u0000)"
_SEGMENT_CHARS = 40
_DEPTH_PATH_SEGMENTS = 4


class JsonTooDeep(ValueError):
    """JSON text nested so deep that the parser gave up."""


def too_deep_sentence(where: str, max_depth: int = MAX_NESTING) -> str:
    """The sentence for a value nested deeper than `max_depth`."""
    return f"{where}: nested more than {max_depth} levels deep (objects and arrays)"


def decode_json(data: str | bytes) -> Any:
    """`json.loads`, with nesting too deep for the parser reported as JsonTooDeep."""
    try:
        return json.loads(data)
    except RecursionError:
        raise JsonTooDeep(too_deep_sentence("body")) from None


def _segment(key: Any) -> str:
    text = str(key)
    return text if len(text) <= _SEGMENT_CHARS else text[: _SEGMENT_CHARS - 1] + "…"


def _render(root: str, path: tuple[Any, ...]) -> str:
    """`root.key[0].other`, like the validation messages; without a root, the first key."""
    out = root
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{_segment(part)}" if out else _segment(part)
    return out or "body"


def json_problems(value: Any, where: str = "", *, max_depth: int = MAX_NESTING) -> list[str]:
    """Why `value` (parsed JSON or YAML) may not be stored, as `<path>: <problem>` sentences.

    Nesting deeper than `max_depth`, NUL characters in strings or keys (PostgreSQL refuses
    them in text and jsonb) and non-finite numbers (`NaN`, `Infinity`, `1e400`). Iterative,
    so any depth is safe to check; `where` prefixes every path.
    """
    problems: list[str] = []
    extra = 0
    stack: list[tuple[Any, int, tuple[Any, ...]]] = [(value, 0, ())]
    while stack:
        item, depth, path = stack.pop()
        problem: str | None = None
        children: list[tuple[Any, Any]] = []
        if isinstance(item, str):
            if "\x00" in item:
                problem = f"{_render(where, path)}: {NUL_SENTENCE}"
        elif isinstance(item, float):
            if not math.isfinite(item):
                problem = f"{_render(where, path)}: must be a finite number"
        elif isinstance(item, dict | list | tuple):
            if depth >= max_depth:
                shown = path[:_DEPTH_PATH_SEGMENTS]
                tail = "…" if len(path) > len(shown) else ""
                problem = too_deep_sentence(_render(where, shown) + tail, max_depth)
            elif isinstance(item, dict):
                for key in item:
                    if isinstance(key, str) and "\x00" in key:
                        problems.append(f"{_render(where, (*path, key))}: keys {NUL_SENTENCE}")
                children = list(item.items())
            else:
                children = list(enumerate(item))
        if problem is not None:
            if len(problems) < MAX_PROBLEMS:
                problems.append(problem)
            else:
                extra += 1
        for key, child in reversed(children):
            if isinstance(child, str | float | dict | list | tuple):
                stack.append((child, depth + 1, (*path, key)))
    if len(problems) > MAX_PROBLEMS:
        extra += len(problems) - MAX_PROBLEMS
        del problems[MAX_PROBLEMS:]
    if extra:
        problems.append(f"… and {extra} more problems of the same kinds")
    return problems
