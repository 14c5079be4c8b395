"""P1–P3: Flowdeck driven in-process through its HTTP API, each on a fresh database."""

from __future__ import annotations

import asyncio
import math
import statistics
from dataclasses import dataclass
from typing import Any, Literal

from bench.harness import Flowdeck, db_kind, now, running_flowdeck, say, server_ms
from bench.workloads import CHAIN_STEPS, FAN_WIDTH, P3_STEPS, chain, fan_out

Observe = Literal["poll", "sse"]

P1_TARGET_MS = 80.0
P2_TARGET_STEPS_PER_S = 3000.0
P3_TARGET_STEPS_PER_S = 1000.0
P3_TARGET_P99_MS = 20.0

# Enough for P2's 1,002 steps (the default cap is 1,000 steps per workflow).
MAX_STEPS = 1100
POLL_P1_S = 0.001  # the brief's "every ~1 ms"
POLL_COARSE_S = 0.02  # for long runs: cheap relative to the run, fine relative to its length


@dataclass(frozen=True)
class Options:
    """What every scenario needs to know."""

    server_url: str | None
    quick: bool
    observe: Observe = "poll"
    in_flight: int = 32


def percentile(values: list[float], pct: float) -> float:
    """Nearest-rank percentile (p99 of 2,000 values is the 1,980th smallest)."""
    ordered = sorted(values)
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return ordered[rank - 1]


async def _submit_and_wait(
    fd: Flowdeck, workflow_id: str, observe: Observe
) -> tuple[float, dict[str, Any]]:
    """Seconds from POST /run to seeing the run end, and the ended run."""
    start = now()
    run_id = await fd.start_run(workflow_id)
    if observe == "sse":
        await fd.follow_run(run_id)
        elapsed = now() - start
        run = await fd.get_run(run_id)
    else:
        run = await fd.wait_run(run_id, POLL_P1_S)
        elapsed = now() - start
    if run["status"] != "completed":
        raise RuntimeError(f"run {run_id} ended {run['status']}: {run.get('error')}")
    return elapsed, run


async def p1_chain(opts: Options) -> dict[str, Any]:
    """P1: a chain of 40 trivial transforms, time from submit to done."""
    runs = 5
    async with running_flowdeck(opts.server_url, max_concurrent_runs=10, max_steps=MAX_STEPS) as fd:
        wf = await fd.create_workflow(chain(CHAIN_STEPS, "bench-p1-chain"))
        await _submit_and_wait(fd, wf, opts.observe)  # warm-up: caches, first compile
        observed: list[float] = []
        engine: list[float] = []
        for _ in range(runs):
            elapsed, run = await _submit_and_wait(fd, wf, opts.observe)
            observed.append(elapsed * 1000)
            engine.append(server_ms(run))
        # The same runs with nobody watching closely: the server's own timestamps.
        quiet: list[float] = []
        for _ in range(3 if opts.quick else runs):
            run_id = await fd.start_run(wf)
            run = await fd.wait_latest(wf, run_id, 0.05)
            quiet.append(server_ms(run))
    ms = statistics.median(observed)
    say(f"P1 observed ms: {[round(x, 1) for x in observed]}; server ms: {engine}")
    return {
        "bench": "P1",
        "steps": CHAIN_STEPS,
        "ms": round(ms, 1),
        "min_ms": round(min(observed), 1),
        "ms_per_step": round(ms / CHAIN_STEPS, 2),
        "server_ms": round(statistics.median(engine), 1),
        "server_ms_unobserved": round(statistics.median(quiet), 1),
        "observe": f"{opts.observe}-1ms" if opts.observe == "poll" else "sse",
        "runs": runs,
        "target_ms": P1_TARGET_MS,
        "met": ms <= P1_TARGET_MS,
        "db": db_kind(opts.server_url),
    }


async def p2_fan_out(opts: Options) -> dict[str, Any]:
    """P2: root → 1,000 parallel transforms → join; steps/s from submit to done."""
    steps = FAN_WIDTH + 2
    runs = 1 if opts.quick else 3
    async with running_flowdeck(opts.server_url, max_concurrent_runs=10, max_steps=MAX_STEPS) as fd:
        wf = await fd.create_workflow(fan_out(FAN_WIDTH, "bench-p2-fan-out"))
        if not opts.quick:
            await _p2_once(fd, wf)  # warm-up
        walls: list[float] = []
        engine: list[float] = []
        for i in range(runs):
            wall, run = await _p2_once(fd, wf)
            walls.append(wall)
            engine.append(server_ms(run) / 1000)
            say(f"P2 run {i + 1}: {wall:.2f} s wall, {engine[-1]:.2f} s by the server's clock")
    wall = statistics.median(walls)
    rate = steps / wall
    return {
        "bench": "P2",
        "steps": steps,
        "ms": round(wall * 1000, 1),
        "steps_per_s": round(rate, 1),
        "server_steps_per_s": round(steps / statistics.median(engine), 1),
        "runs": runs,
        "target_steps_per_s": P2_TARGET_STEPS_PER_S,
        "met": rate >= P2_TARGET_STEPS_PER_S,
        "db": db_kind(opts.server_url),
    }


async def _p2_once(fd: Flowdeck, workflow_id: str) -> tuple[float, dict[str, Any]]:
    start = now()
    run_id = await fd.start_run(workflow_id)
    run = await fd.wait_latest(workflow_id, run_id, POLL_COARSE_S)
    wall = now() - start
    if run["status"] != "completed":
        raise RuntimeError(f"P2 run {run_id} ended {run['status']}: {run.get('error')}")
    return wall, run


async def p3_api_throughput(opts: Options) -> dict[str, Any]:
    """P3: 2,000 runs × 3 steps started through POST /run, 32 requests in flight (default)."""
    total_runs = 300 if opts.quick else 2000
    in_flight = opts.in_flight
    async with running_flowdeck(
        opts.server_url, max_concurrent_runs=2000, max_steps=MAX_STEPS
    ) as fd:
        wf = await fd.create_workflow(chain(P3_STEPS, "bench-p3-chain3"))
        latencies: list[float] = []
        remaining = iter(range(total_runs))

        async def poster() -> None:
            for _ in remaining:
                t0 = now()
                await fd.start_run(wf)
                latencies.append((now() - t0) * 1000)

        start = now()
        await asyncio.gather(*(poster() for _ in range(in_flight)))
        posted = now() - start
        while (done := await fd.count_runs(wf, "completed")) < total_runs:
            if now() - start > 600:
                raise RuntimeError(f"P3: only {done} of {total_runs} runs completed in 600 s")
            await asyncio.sleep(POLL_COARSE_S)
        wall = now() - start
        failed = await fd.count_runs(wf, "failed")
    if failed:
        raise RuntimeError(f"P3: {failed} runs failed")
    steps = total_runs * P3_STEPS
    rate = steps / wall
    p99 = percentile(latencies, 99)
    say(f"P3: all POSTs answered after {posted:.2f} s, all runs completed after {wall:.2f} s")
    return {
        "bench": "P3",
        "runs": total_runs,
        "steps": steps,
        "in_flight": in_flight,
        "s": round(wall, 2),
        "steps_per_s": round(rate, 1),
        "api_p50_ms": round(percentile(latencies, 50), 2),
        "api_p99_ms": round(p99, 2),
        "api_max_ms": round(max(latencies), 2),
        "posts_per_s": round(total_runs / posted, 1),
        "target_steps_per_s": P3_TARGET_STEPS_PER_S,
        "target_p99_ms": P3_TARGET_P99_MS,
        "met_steps_per_s": rate >= P3_TARGET_STEPS_PER_S,
        "met_p99": p99 < P3_TARGET_P99_MS,
        "met": rate >= P3_TARGET_STEPS_PER_S and p99 < P3_TARGET_P99_MS,
        "db": db_kind(opts.server_url),
    }
