"""Flowdeck against Prefect 3 on P1 and P2, side by side: `python -m bench.peers.compare`.

Runs Flowdeck's P1/P2 in this process (SQLite), then bench/peers/p1_p2_prefect.py with the
peer venv's python (run bench/peers/setup_prefect.sh once first), and prints one ratio line
per benchmark: how many times less time Flowdeck needs than Prefect for the same shape.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from bench.harness import say
from bench.scenarios import Options, p1_chain, p2_fan_out

HERE = Path(__file__).resolve().parent
PREFECT_PYTHON = HERE / ".venv-prefect" / "bin" / "python"
PREFECT_SCRIPT = HERE / "p1_p2_prefect.py"
TARGET_RATIO = 20.0


def run_prefect(only: list[str], quick: bool, settle: float) -> dict[str, dict[str, Any]]:
    """Prefect's JSON lines by benchmark name."""
    if not PREFECT_PYTHON.exists():
        raise SystemExit(f"{PREFECT_PYTHON} is missing: run bench/peers/setup_prefect.sh first")
    cmd = [str(PREFECT_PYTHON), str(PREFECT_SCRIPT), "--only", ",".join(only)]
    cmd += ["--settle", f"{settle:g}"]
    if quick:
        cmd.append("--quick")
    say(f"running {' '.join(cmd)}")
    # Prefect's chatter (and its server's shutdown noise) goes to our stderr as it is.
    done = subprocess.run(cmd, stdout=subprocess.PIPE, text=True, check=True, timeout=1800)
    lines = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    return {line["bench"]: line for line in lines}


async def run_flowdeck(only: list[str], quick: bool) -> dict[str, dict[str, Any]]:
    """Flowdeck's results by benchmark name, on a fresh SQLite database each."""
    opts = Options(server_url=None, quick=quick)
    results = {}
    if "P1" in only:
        results["P1"] = await p1_chain(opts)
    if "P2" in only:
        results["P2"] = await p2_fan_out(opts)
    return results


def ratio_line(name: str, flowdeck: dict[str, Any], prefect: dict[str, Any]) -> dict[str, Any]:
    """Prefect's time over Flowdeck's: 20 means Flowdeck is 20× faster."""
    ratio = float(prefect["ms"]) / float(flowdeck["ms"])
    line: dict[str, Any] = {
        "bench": name,
        "flowdeck_ms": flowdeck["ms"],
        "prefect_ms": prefect["ms"],
        "ratio": round(ratio, 2),
    }
    if "steps_per_s" in flowdeck:
        line["flowdeck_steps_per_s"] = flowdeck["steps_per_s"]
        line["prefect_steps_per_s"] = prefect["steps_per_s"]
    line |= {
        "prefect_version": prefect.get("version"),
        "target_ratio": TARGET_RATIO,
        "met": ratio >= TARGET_RATIO,
        "db": "sqlite",
    }
    return line


def main(argv: list[str] | None = None) -> int:
    """Run both, print the ratio lines."""
    parser = argparse.ArgumentParser(prog="python -m bench.peers.compare", description=__doc__)
    parser.add_argument("--only", default="P1,P2", help="comma-separated subset of P1,P2")
    parser.add_argument("--quick", action="store_true", help="fewer repeats on both sides")
    parser.add_argument(
        "--prefect-settle",
        type=float,
        default=20.0,
        help="seconds Prefect's server gets before each P2 repeat to finish recording the "
        "previous one (default 20; with 0, repeats took 6 to 76 s here)",
    )
    args = parser.parse_args(argv)
    only = [name for name in ("P1", "P2") if name in args.only.upper().split(",")]
    flowdeck = asyncio.run(run_flowdeck(only, args.quick))
    for line in flowdeck.values():
        say(f"flowdeck: {json.dumps(line)}")
    prefect = run_prefect(only, args.quick, args.prefect_settle)
    for line in prefect.values():
        say(f"prefect: {json.dumps(line)}")
    for name in only:
        if name not in prefect:
            say(f"{name}: Prefect printed no result; see its output above")
            continue
        print(json.dumps(ratio_line(name, flowdeck[name], prefect[name])), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
