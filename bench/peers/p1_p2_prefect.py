"""P1 and P2 written for Prefect 3, printed as JSON lines shaped like Flowdeck's.

Run it with the peer venv's python (bench/peers/setup_prefect.sh creates it):

    bench/peers/.venv-prefect/bin/python bench/peers/p1_p2_prefect.py [--only P1,P2] [--quick]

Prefect runs in ephemeral mode: no PREFECT_API_URL, PREFECT_SERVER_ALLOW_EPHEMERAL_MODE=true,
so the first flow call starts a temporary Prefect server (a subprocess) on a fresh SQLite
database under a temporary PREFECT_HOME. That start-up is absorbed by a warm-up run.

This file imports nothing from Flowdeck: it runs in a different virtualenv.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any

CHAIN_LENGTH = 40
FAN_WIDTH = 1000


def _configure_ephemeral(home: str) -> None:
    """Point Prefect at a temporary home and an ephemeral server, before importing it."""
    os.environ.pop("PREFECT_API_URL", None)
    os.environ.pop("PREFECT_API_KEY", None)
    os.environ["PREFECT_HOME"] = home
    os.environ["PREFECT_PROFILES_PATH"] = os.path.join(home, "profiles.toml")
    os.environ["PREFECT_SERVER_ALLOW_EPHEMERAL_MODE"] = "true"
    os.environ["PREFECT_API_DATABASE_CONNECTION_URL"] = (
        f"sqlite+aiosqlite:///{os.path.join(home, 'prefect.db')}"
    )
    os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
    os.environ["PREFECT_LOGGING_LEVEL"] = "WARNING"
    os.environ["PREFECT_LOGGING_TO_API_ENABLED"] = "false"


def say(message: str) -> None:
    """Chatter goes to stderr; stdout carries only JSON lines."""
    print(message, file=sys.stderr, flush=True)


def emit(result: dict[str, Any]) -> None:
    """One JSON line per result."""
    print(json.dumps(result), flush=True)


def _timed(fn: Callable[[], Any]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    """Run the selected benchmarks against an ephemeral Prefect."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default="P1,P2", help="comma-separated subset of P1,P2")
    parser.add_argument("--quick", action="store_true", help="fewer repetitions")
    parser.add_argument(
        "--settle",
        type=float,
        default=0.0,
        help="seconds to pause before each P2 repeat, letting the server finish recording",
    )
    args = parser.parse_args(argv)
    only = {name.strip().upper() for name in args.only.split(",") if name.strip()}

    home = tempfile.mkdtemp(prefix="prefect-bench-")
    _configure_ephemeral(home)
    try:
        return _run(only, quick=args.quick, settle=args.settle)
    finally:
        shutil.rmtree(home, ignore_errors=True)


def _run(only: set[str], *, quick: bool, settle: float) -> int:
    # Imported here, after _configure_ephemeral; typed as Any since this venv lacks Prefect.
    prefect: Any = importlib.import_module("prefect")
    version = str(prefect.__version__)

    def _transform(value: int) -> int:
        return value

    transform = prefect.task(_transform, name="transform")

    def _chain() -> int:
        # A chain is sequential by nature: calling tasks directly is how Prefect writes it.
        value = 0
        for i in range(CHAIN_LENGTH):
            value = transform(value + i)
        return value

    def _fan() -> int:
        # Submitted tasks run on the default ThreadPoolTaskRunner; futures carry the edges.
        root = transform.submit(0)
        branches = [transform.submit(i, wait_for=[root]) for i in range(FAN_WIDTH)]
        join = transform.submit(-1, wait_for=branches)
        return int(join.result())

    chain_flow = prefect.flow(_chain, name="bench-p1-chain")
    fan_flow = prefect.flow(_fan, name="bench-p2-fan-out")

    say(f"prefect {version}: starting the ephemeral server (warm-up)")
    if "P1" in only:
        warm = _timed(chain_flow)
        say(f"P1 warm-up (includes server start): {warm * 1000:.0f} ms")
        times = [_timed(chain_flow) for _ in range(3 if quick else 5)]
        ms = statistics.median(times) * 1000
        emit(
            {
                "bench": "P1",
                "engine": "prefect",
                "version": version,
                "steps": CHAIN_LENGTH,
                "ms": round(ms, 1),
                "min_ms": round(min(times) * 1000, 1),
                "ms_per_step": round(ms / CHAIN_LENGTH, 2),
                "runs": len(times),
                "db": "sqlite",
            }
        )
    if "P2" in only:
        if "P1" not in only:
            say(f"P2 warm-up (includes server start): {_timed(chain_flow) * 1000:.0f} ms")
        times = []
        for i in range(1 if quick else 3):
            time.sleep(settle)
            times.append(_timed(fan_flow))
            say(f"P2 run {i + 1}: {times[-1]:.1f} s")
        steps = FAN_WIDTH + 2
        seconds = statistics.median(times)
        emit(
            {
                "bench": "P2",
                "engine": "prefect",
                "version": version,
                "steps": steps,
                "ms": round(seconds * 1000, 1),
                "steps_per_s": round(steps / seconds, 1),
                "runs": len(times),
                "settle_s": settle,
                "db": "sqlite",
            }
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
