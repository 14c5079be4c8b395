"""Redaction cost: `python -m bench.redaction [--secrets 0,1,10,50] [--repeat 2000]`.

Times `Redactor.redact` on a typical `step_completed` event (an HTTP reply of 20 items, ~65
strings), on a short event, and on a 100 KB script output, for workspaces with N secrets of 32
characters; also the one-off cost of compiling a secret set. For comparison, `naive` is the
previous implementation (one `str.replace` per secret, exact values only). One JSON line per
result on stdout.
"""

from __future__ import annotations

import argparse
import json
import secrets
import time
from collections.abc import Callable
from typing import Any

from flowdeck.engine.redaction import Redactor, _automaton

EVENT: dict[str, Any] = {
    "run_id": "run_01j9z3k4m5n6p7q8r9s0t1v2w3",
    "step_id": "fetch",
    "attempt": 1,
    "output": {
        "status_code": 200,
        "headers": {"content-type": "application/json", "date": "Mon, 01 Jan 2026 00:00:00 GMT"},
        "body": {
            "items": [
                {"id": i, "name": f"item {i}", "description": "lorem ipsum dolor sit amet " * 3}
                for i in range(20)
            ]
        },
    },
    "timestamp": "2026-01-01T00:00:00.000000Z",
}
SHORT: dict[str, Any] = {"run_id": EVENT["run_id"], "step_id": "fetch", "attempt": 1}
STDOUT = "line of script output, nothing secret in it\n" * 2300  # ~100 KB


class Naive:
    """The redactor before spellings: exact values, longest first, one replace each."""

    def __init__(self, values: dict[str, str]) -> None:
        self.values = sorted({v for v in values.values() if v}, key=len, reverse=True)

    def redact(self, value: Any) -> Any:
        return self._walk(value) if self.values else value

    def _walk(self, value: Any) -> Any:
        if isinstance(value, str):
            for secret in self.values:
                if secret in value:
                    value = value.replace(secret, "***")
            return value
        if isinstance(value, dict):
            return {self._walk(k): self._walk(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self._walk(v) for v in value]
        return value


def per_call_us(fn: Callable[[Any], Any], value: Any, repeat: int) -> float:
    """Microseconds per call, best of 3 passes."""
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        for _ in range(repeat):
            fn(value)
        best = min(best, (time.perf_counter() - started) / repeat)
    return round(best * 1e6, 1)


def main(argv: list[str] | None = None) -> None:
    """Print one JSON line per (secret count, payload)."""
    parser = argparse.ArgumentParser(prog="python -m bench.redaction", description=__doc__)
    parser.add_argument("--secrets", default="0,1,10,50")
    parser.add_argument("--repeat", type=int, default=2000)
    args = parser.parse_args(argv)
    for count in (int(n) for n in args.secrets.split(",")):
        values = {f"S{i}": secrets.token_urlsafe(24) for i in range(count)}
        _automaton.cache_clear()
        started = time.perf_counter()
        redactor = Redactor(values)
        compile_ms = round((time.perf_counter() - started) * 1e3, 2)
        naive = Naive(values)
        for name, payload, repeat in (
            ("event", EVENT, args.repeat),
            ("short_event", SHORT, args.repeat * 5),
            ("stdout_100kb", STDOUT, max(args.repeat // 20, 20)),
        ):
            print(
                json.dumps(
                    {
                        "bench": "redaction",
                        "secrets": count,
                        "payload": name,
                        "us_per_call": per_call_us(redactor.redact, payload, repeat),
                        "naive_us_per_call": per_call_us(naive.redact, payload, repeat),
                        "compile_ms": compile_ms,
                    }
                ),
                flush=True,
            )


if __name__ == "__main__":
    main()
