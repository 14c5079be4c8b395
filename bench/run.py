"""Run Flowdeck's benchmarks: `python -m bench.run [--only P1,P3] [--database-url URL] [--quick]`.

Prints one JSON line per result on stdout; progress and notes go to stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from bench.ceiling import measure
from bench.harness import db_kind, say
from bench.profiling import profiled
from bench.scenarios import Options, p1_chain, p2_fan_out, p3_api_throughput

ALL = ("P1", "P2", "P3", "P4")
P4_TARGET_FRACTION = 0.5

Scenario = Callable[[Options], Awaitable[dict[str, Any]]]
SCENARIOS: dict[str, Scenario] = {"P1": p1_chain, "P2": p2_fan_out, "P3": p3_api_throughput}


def emit(result: dict[str, Any]) -> None:
    """One JSON line on stdout."""
    print(json.dumps(result), flush=True)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__)
    parser.add_argument("--only", default=",".join(ALL), help="comma-separated, e.g. P1,P3")
    parser.add_argument(
        "--database-url",
        default=None,
        help="a PostgreSQL server URL: each benchmark gets a fresh database flowdeck_bench_<id> "
        "there, dropped afterwards (default: a temporary SQLite file per benchmark)",
    )
    parser.add_argument("--quick", action="store_true", help="smaller sizes, fewer repeats")
    parser.add_argument(
        "--observe",
        choices=("poll", "sse"),
        default="poll",
        help="how P1 sees a run end: poll GET /runs/{id} every 1 ms (default) or follow SSE",
    )
    parser.add_argument(
        "--in-flight", type=int, default=32, help="P3: POST requests kept in flight (default 32)"
    )
    parser.add_argument(
        "--profile", type=Path, default=None, help="write pyinstrument profiles to this folder"
    )
    args = parser.parse_args(argv)
    chosen = [name.strip().upper() for name in args.only.split(",") if name.strip()]
    unknown = [name for name in chosen if name not in ALL]
    if unknown:
        parser.error(f"unknown benchmark {', '.join(unknown)}; choose from {', '.join(ALL)}")
    args.only = [name for name in ALL if name in chosen]
    return args


async def run(args: argparse.Namespace) -> int:
    """Run the chosen benchmarks in order, printing each result as it is ready."""
    opts = Options(
        server_url=args.database_url,
        quick=args.quick,
        observe=args.observe,
        in_flight=args.in_flight,
    )
    results: dict[str, dict[str, Any]] = {}
    for name in args.only:
        if name == "P4":
            p4 = await _p4(opts, results.get("P3"), args.profile)
            if p4 is not None:
                emit(p4)
            continue
        say(f"{name}: running on {db_kind(opts.server_url)}{' (quick)' if opts.quick else ''}")
        with profiled(name, args.profile):
            results[name] = await SCENARIOS[name](opts)
        emit(results[name])
    return 0


async def _p4(
    opts: Options, p3: dict[str, Any] | None, profile: Path | None
) -> dict[str, Any] | None:
    """The engine's P3 steps/s as a fraction of raw sqlite3's ceiling on the same schema."""
    if db_kind(opts.server_url) != "sqlite":
        say("P4: skipped; the ceiling is a raw sqlite3 loop, so it only compares SQLite runs")
        return None
    if p3 is None:
        say("P4: running P3 first for the engine's steps/s (its line is not printed)")
        with profiled("P3", profile):
            p3 = await p3_api_throughput(opts)
    say("P4: measuring the raw sqlite3 ceiling")
    ceilings = {c.model: c for c in measure(runs=p3["runs"], repeats=2 if opts.quick else 3)}
    engine = float(p3["steps_per_s"])
    step, full = ceilings["step"], ceilings["run"]
    fraction = engine / step.steps_per_s
    return {
        "bench": "P4",
        "engine_steps_per_s": engine,
        "engine_source": "P3",
        "ceiling_steps_per_s": round(step.steps_per_s, 1),
        "fraction": round(fraction, 4),
        "full_ceiling_steps_per_s": round(full.steps_per_s, 1),
        "fraction_of_full": round(engine / full.steps_per_s, 4),
        "steps": step.steps,
        "target_fraction": P4_TARGET_FRACTION,
        "met": fraction >= P4_TARGET_FRACTION,
        "db": "sqlite",
    }


def main(argv: list[str] | None = None) -> int:
    """Entry point."""
    args = parse_args(argv)
    # SIGTERM unwinds like Ctrl-C, so a PostgreSQL bench database is still dropped.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    return asyncio.run(run(args))


if __name__ == "__main__":
    sys.exit(main())
