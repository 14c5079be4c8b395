"""Summarise a pyinstrument session from `--profile`: where the time goes, by layer and by
Flowdeck function. `python -m bench.profile_summary DIR/P3.pyisession [--top 25]`."""

from __future__ import annotations

import argparse
import sys
from collections import defaultdict
from typing import Any

# Leaf C calls that are the database doing its work rather than Python around it.
_SQLITE_CALLS = ("Cursor.execute", "Cursor.executemany", "Connection.commit", "Cursor.fetch")
_LAYERS = (
    ("sqlalchemy/", "SQLAlchemy (statement building, compiling, results)"),
    ("psycopg", "psycopg (PostgreSQL driver)"),
    ("fastapi/", "HTTP stack (FastAPI, Starlette, httpx, sse-starlette)"),
    ("starlette/", "HTTP stack (FastAPI, Starlette, httpx, sse-starlette)"),
    ("httpx/", "HTTP stack (FastAPI, Starlette, httpx, sse-starlette)"),
    ("httpcore/", "HTTP stack (FastAPI, Starlette, httpx, sse-starlette)"),
    ("sse_starlette/", "HTTP stack (FastAPI, Starlette, httpx, sse-starlette)"),
    ("anyio/", "HTTP stack (FastAPI, Starlette, httpx, sse-starlette)"),
    ("pydantic", "pydantic"),
    ("json/", "json"),
    ("flowdeck/", "Flowdeck's own code"),
    ("bench/", "the benchmark client"),
    ("asyncio/", "asyncio"),
)


def _layer(frame: Any, inherited: str) -> str:
    path = frame.file_path or ""
    if frame.function == "epoll.poll":
        return "idle (waiting in epoll)"
    if path in ("", "<built-in>") or frame.is_synthetic:
        if frame.function.startswith(_SQLITE_CALLS) and inherited.startswith("SQLAlchemy"):
            return "database engine (sqlite3 C calls)"
        return inherited
    for marker, name in _LAYERS:
        if marker in path:
            return name
    return "other"


def summarise(path: str, top: int) -> str:
    """The report text for one saved session."""
    from pyinstrument.session import Session

    root = Session.load(path).root_frame()
    if root is None:
        return "empty profile"
    total = root.time
    layers: dict[str, float] = defaultdict(float)
    inclusive: dict[str, float] = defaultdict(float)

    def walk(frame: Any, inherited: str, active: set[str]) -> None:
        layer = _layer(frame, inherited)
        layers[layer] += frame.time - sum(child.time for child in frame.children)
        key = ""
        if "flowdeck/" in (frame.file_path or ""):
            key = f"{frame.function}  ({frame.file_path_short}:{frame.line_no})"
        counted = bool(key) and key not in active
        if counted:
            inclusive[key] += frame.time
            active.add(key)
        for child in frame.children:
            walk(child, layer, active)
        if counted:
            active.discard(key)

    walk(root, "other", set())
    lines = [f"{path}: {total:.2f} s sampled", "", "By layer (self time):"]
    for name, seconds in sorted(layers.items(), key=lambda item: -item[1]):
        lines.append(f"  {seconds:7.2f} s {100 * seconds / total:5.1f} %  {name}")
    lines += ["", f"Flowdeck functions (inclusive, top {top}):"]
    for name, seconds in sorted(inclusive.items(), key=lambda item: -item[1])[:top]:
        lines.append(f"  {seconds:7.2f} s {100 * seconds / total:5.1f} %  {name}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Print the summary of each session given."""
    parser = argparse.ArgumentParser(prog="python -m bench.profile_summary", description=__doc__)
    parser.add_argument("sessions", nargs="+", help=".pyisession files written by --profile")
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args(argv)
    for path in args.sessions:
        print(summarise(path, args.top))
        print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
