"""P5: steps/s of `flowdeck worker` processes sharing one PostgreSQL database.

`python -m bench.p5 --database-url postgresql://postgres@127.0.0.1:5432/test [--workers 1,2]`

For each worker count, on a fresh database: an in-process API with no worker queues RUNS runs
of a fan-out (root → WIDTH parallel transforms → join), then that many `flowdeck worker`
processes start and drain the queue. Steps/s counts every step of every run between the first
run's start and the last run's end, by the database's timestamps, so process start-up is not
measured. One JSON line per worker count on stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import tempfile
from datetime import datetime
from pathlib import Path
from typing import Any

from bench.harness import Flowdeck, now, running_flowdeck, say
from bench.workloads import fan_out

P5_TARGET_STEPS_PER_S = 2000.0
RUNS = 40
WIDTH = 100


def _ts(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _worker_command(profile: Path | None, index: int) -> list[str]:
    script = Path(sys.executable).parent / "flowdeck"
    command = [str(script) if script.exists() else "flowdeck", "worker"]
    if profile is None:
        return command
    # pyinstrument (not a dependency: pip install pyinstrument) writes its report on SIGINT.
    out = profile / f"worker-{index}.txt"
    return [sys.executable, "-m", "pyinstrument", "-r", "text", "-o", str(out), *command]


def _cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process so far (Linux /proc), 0 where unreadable."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _postgres_cpu() -> float:
    """CPU seconds of every process named postgres on this machine (the database's share)."""
    total = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        if "(postgres)" in text:
            total += _cpu_seconds(int(stat.parent.name))
    return total


def _start_workers(
    count: int, env: dict[str, str], logs: Path, profile: Path | None
) -> list[subprocess.Popen[bytes]]:
    procs = []
    for i in range(count):
        with (logs / f"worker-{i}.log").open("wb") as fh:
            command = _worker_command(profile, i)
            procs.append(subprocess.Popen(command, env=env, stdout=fh, stderr=subprocess.STDOUT))
    return procs


def _logs(where: Path) -> str:
    return "\n".join(p.read_text() for p in sorted(where.glob("*.log")))


def _stop(procs: list[subprocess.Popen[bytes]], sig: int) -> None:
    for p in procs:
        p.send_signal(sig)
    for p in procs:
        try:
            p.wait(timeout=20)
        except subprocess.TimeoutExpired:
            p.kill()


async def _all_runs(fd: Flowdeck, workflow_id: str) -> list[dict[str, Any]]:
    runs: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"limit": 200}
        if cursor:
            params["cursor"] = cursor
        resp = await fd.client.get(
            f"/api/workflows/{workflow_id}/runs", params=params, headers=fd.headers
        )
        resp.raise_for_status()
        body = resp.json()
        runs.extend(body["runs"])
        cursor = body.get("next_cursor")
        if not cursor:
            return runs


async def measure(
    server_url: str, workers: int, runs: int, width: int, profile: Path | None = None
) -> dict[str, Any]:
    """Queue the runs, start `workers` worker processes, wait for the queue to drain."""
    settings = {"run_worker": False, "max_concurrent_runs": runs, "max_steps": width + 2}
    async with running_flowdeck(server_url, **settings) as fd:
        wf = await fd.create_workflow(fan_out(width, f"bench-p5-{workers}"))
        for _ in range(runs):
            await fd.start_run(wf)
        env = {k: v for k, v in os.environ.items() if not k.startswith("FLOWDECK_")}
        env.update(
            FLOWDECK_DATABASE_URL=fd.url,
            FLOWDECK_MAX_CONCURRENT_RUNS=str(runs),
            FLOWDECK_LOG_LEVEL="WARNING",
        )
        with tempfile.TemporaryDirectory(prefix="flowdeck-p5-") as tmp:
            env["FLOWDECK_DATA_DIR"] = tmp
            procs = _start_workers(workers, env, Path(tmp), profile)
            pg_before = _postgres_cpu()
            try:
                wall_start = now()
                while await fd.count_runs(wf, "completed") < runs:
                    if any(p.poll() is not None for p in procs):
                        raise RuntimeError(f"a worker exited early:\n{_logs(Path(tmp))}")
                    if now() - wall_start > 600:
                        raise RuntimeError("P5: the runs did not finish within 10 minutes")
                    await asyncio.sleep(0.2)
                worker_cpu = sum(_cpu_seconds(p.pid) for p in procs)
                pg_cpu = _postgres_cpu() - pg_before
            finally:
                await asyncio.to_thread(_stop, procs, signal.SIGINT if profile else signal.SIGTERM)
        done = await _all_runs(fd, wf)
    bad = [r for r in done if r["status"] != "completed"]
    if bad:
        raise RuntimeError(f"P5: {len(bad)} runs did not complete: {bad[0]}")
    first = min(_ts(r["started_at"]) for r in done)
    last = max(_ts(r["completed_at"]) for r in done)
    seconds = (last - first).total_seconds()
    steps = runs * (width + 2)
    rate = steps / seconds
    say(f"P5 with {workers} worker(s): {steps} steps in {seconds:.2f} s = {rate:.0f} steps/s")
    return {
        "bench": "P5",
        "workers": workers,
        "runs": runs,
        "steps": steps,
        "seconds": round(seconds, 3),
        "steps_per_s": round(rate, 1),
        "target_steps_per_s": P5_TARGET_STEPS_PER_S,
        "met": rate >= P5_TARGET_STEPS_PER_S,
        # CPU per step, less noisy than wall time on a shared machine; the workers' figure
        # includes their start-up (about a second of imports each).
        "worker_cpu_ms_per_step": round(worker_cpu * 1000 / steps, 3),
        "postgres_cpu_ms_per_step": round(pg_cpu * 1000 / steps, 3),
        "db": "postgresql",
        "cpus": os.cpu_count(),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--database-url",
        default=os.environ.get("FLOWDECK_BENCH_DATABASE_URL"),
        help="a PostgreSQL server URL (a fresh database is created on it for each count)",
    )
    parser.add_argument("--workers", default="1,2", help="worker counts, e.g. 1,2,4")
    parser.add_argument("--runs", type=int, default=RUNS)
    parser.add_argument("--width", type=int, default=WIDTH)
    parser.add_argument(
        "--profile", type=Path, help="write a pyinstrument profile of each worker into DIR"
    )
    args = parser.parse_args(argv)
    if not args.database_url or args.database_url.startswith("sqlite"):
        parser.error("P5 needs --database-url postgresql://… (workers share PostgreSQL)")
    for count in (int(c) for c in args.workers.split(",")):
        if args.profile:
            args.profile.mkdir(parents=True, exist_ok=True)
        result = asyncio.run(measure(args.database_url, count, args.runs, args.width, args.profile))
        print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
