"""Analytics on a big history: `python -m bench.analytics [--database-url URL] [--runs N]`.

Bulk-inserts N runs (default 100,000) of one workflow, spread over the last 29 days, with their
step runs (a fetch with occasional retries, a loop with two iterations, a costed report), then
times `GET /api/workflows/{id}/analytics` (30 days, daily) through the API: median of 5 after
one warm-up. Prints one JSON line on stdout; progress goes to stderr. The target is 200 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from bench.harness import db_kind, now, running_flowdeck, say
from flowdeck.domain.ids import new_id
from flowdeck.store.dialect import create_sync_engine
from flowdeck.store.store import Store
from flowdeck.store.tables import runs, step_runs, workspaces

TARGET_MS = 200.0
REPEATS = 5
CHUNK = 20_000
DEFINITION = {
    "name": "Analytics bench",
    "steps": [
        {"id": "fetch", "type": "http_request", "config": {"url": "https://example.com"}},
        {
            "id": "process",
            "type": "loop",
            "depends_on": ["fetch"],
            "config": {"items": [1, 2], "step": {"type": "transform", "config": {"value": 1}}},
        },
        {"id": "report", "type": "transform", "depends_on": ["process"], "config": {"value": 1}},
    ],
}
STATUSES = (("completed", 0.85), ("failed", 0.10), ("cancelled", 0.04), ("running", 0.01))


def _status(rng: random.Random) -> str:
    roll = rng.random()
    for status, share in STATUSES:
        if roll < share:
            return status
        roll -= share
    return "completed"


def _step_row(
    run_id: str,
    at: datetime,
    step_id: str,
    step_type: str,
    status: str,
    seconds: float,
    cost: float = 0.0,
    *,
    attempt: int = 1,
    current: bool = True,
    parent: str | None = None,
    index: int | None = None,
) -> dict[str, Any]:
    return {
        "id": new_id("sr"),
        "run_id": run_id,
        "step_id": step_id,
        "parent_step_id": parent,
        "item_index": index,
        "step_type": step_type,
        "attempt": attempt,
        "is_current": current,
        "status": status,
        "cost": cost,
        "deps_remaining": 0,
        "n_completed": 0,
        "n_failed": 0,
        "n_skipped": 0,
        "created_at": at,
        "started_at": at,
        "completed_at": at + timedelta(seconds=seconds),
    }


def generate(
    workspace_id: str, workflow_id: str, count: int, end: datetime, seed: int = 42
) -> Iterator[tuple[dict[str, Any], list[dict[str, Any]]]]:
    """Deterministic runs, each with its step runs, as rows for the two tables."""
    rng = random.Random(seed)
    span = timedelta(days=29).total_seconds()
    # Oldest first, as a real history is written: row order follows time.
    offsets = sorted((rng.random() * span for _ in range(count)), reverse=True)
    for offset in offsets:
        at = end - timedelta(seconds=offset)
        status = _status(rng)
        seconds = rng.lognormvariate(2.5, 0.8)
        run_id = new_id("run")
        steps: list[dict[str, Any]] = []
        if rng.random() < 0.05:
            steps.append(
                _step_row(run_id, at, "fetch", "http_request", "failed", 0.5, current=False)
            )
            steps.append(
                _step_row(run_id, at, "fetch", "http_request", "completed", 0.4, attempt=2)
            )
        else:
            fetched = "failed" if status == "failed" else "completed"
            steps.append(_step_row(run_id, at, "fetch", "http_request", fetched, 0.3))
        cost = 0.0
        if status != "failed":
            steps.append(_step_row(run_id, at, "process", "loop", "completed", seconds * 0.5))
            for i in range(2):
                steps.append(
                    _step_row(
                        run_id,
                        at,
                        f"process[{i}]",
                        "transform",
                        "completed",
                        0.01,
                        0.01,
                        parent="process",
                        index=i,
                    )
                )
            report_cost = round(rng.random() * 0.2, 4)
            steps.append(
                _step_row(
                    run_id, at, "report", "agent_task", "completed", seconds * 0.4, report_cost
                )
            )
            cost = 0.02 + report_cost
        run = {
            "id": run_id,
            "workspace_id": workspace_id,
            "workflow_id": workflow_id,
            "workflow_version": 1,
            "status": status,
            "trigger": "manual",
            "input_data": {},
            "cost": cost,
            "event_seq": 0,
            "steps_remaining": 0,
            "steps_failed": int(status == "failed"),
            "created_at": at,
            "started_at": at,
            "completed_at": None if status == "running" else at + timedelta(seconds=seconds),
        }
        yield run, steps


def bulk_insert(url: str, workflow_id: str, count: int, end: datetime) -> int:
    """Insert the history in big executemany batches; returns the number of step runs."""
    engine = create_sync_engine(url)
    total_steps = 0
    try:
        with engine.begin() as conn:
            workspace_id = conn.execute(
                sa.select(workspaces.c.id).where(workspaces.c.slug == "default")
            ).scalar_one()
        run_rows: list[dict[str, Any]] = []
        step_rows: list[dict[str, Any]] = []

        def flush() -> None:
            with engine.begin() as conn:
                conn.execute(runs.insert(), run_rows)
                conn.execute(step_runs.insert(), step_rows)
            run_rows.clear()
            step_rows.clear()

        for run, steps in generate(workspace_id, workflow_id, count, end):
            run_rows.append(run)
            step_rows.extend(steps)
            total_steps += len(steps)
            if len(run_rows) >= CHUNK:
                flush()
        if run_rows:
            flush()
        if db_kind(url) == "postgresql":
            with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.execute(sa.text("VACUUM ANALYZE runs"))
                conn.execute(sa.text("VACUUM ANALYZE step_runs"))
        else:
            with engine.begin() as conn:
                conn.execute(sa.text("ANALYZE"))
    finally:
        engine.dispose()
    return total_steps


async def time_parts(
    url: str, workflow_id: str, since_text: str, completed: int
) -> dict[str, float]:
    """Median ms of each query the endpoint makes, straight on the store."""
    since = datetime.fromisoformat(since_text.replace("Z", "+00:00"))
    store = Store.from_url(url)
    spent: dict[str, list[float]] = {"runs_per_period": [], "percentiles": [], "step_stats": []}
    try:
        for _ in range(REPEATS):
            async with store.read() as tx:
                t0 = now()
                await tx.analytics_runs_per_period(workflow_id, since, "daily")
                t1 = now()
                await tx.analytics_run_percentiles(workflow_id, since, (0.5, 0.95), count=completed)
                t2 = now()
                await tx.analytics_step_aggregates(workflow_id, since)
                t3 = now()
            for name, ms in zip(spent, ((t1 - t0), (t2 - t1), (t3 - t2)), strict=True):
                spent[name].append(ms * 1000)
    finally:
        await store.close()
    return {name: round(statistics.median(values), 1) for name, values in spent.items()}


async def bench(database_url: str | None, count: int) -> dict[str, Any]:
    """Build the history, then time the analytics endpoint."""
    async with running_flowdeck(database_url, run_worker=False) as fd:
        workflow_id = await fd.create_workflow(DEFINITION)
        say(f"inserting {count:,} runs with their step runs…")
        started = now()
        n_steps = await asyncio.to_thread(
            bulk_insert, fd.url, workflow_id, count, datetime.now(UTC)
        )
        insert_s = now() - started
        say(f"inserted {count:,} runs and {n_steps:,} step runs in {insert_s:.1f} s")
        # The engine adds each finished run to the per-day step statistics as it ends; a bulk
        # insert bypasses it, so build them once (what a backfill does).
        started = now()
        store = Store.from_url(fd.url)
        try:
            async with store.write() as tx:
                await tx.rebuild_step_rollups(workflow_id)
        finally:
            await store.close()
        say(f"built the per-day step statistics in {now() - started:.1f} s")
        path = f"/api/workflows/{workflow_id}/analytics"
        params = {"days": 30, "granularity": "daily"}
        times: list[float] = []
        body: dict[str, Any] = {}
        for i in range(REPEATS + 1):
            t0 = now()
            resp = await fd.client.get(path, params=params, headers=fd.headers)
            elapsed = (now() - t0) * 1000
            resp.raise_for_status()
            body = resp.json()
            if i:  # the first request warms caches and is not counted
                times.append(elapsed)
        kpis = body["kpis"]
        if kpis["total_runs"] != count:
            raise RuntimeError(f"analytics counted {kpis['total_runs']} runs, not {count}")
        say(f"kpis: {json.dumps(kpis)}")
        parts = await time_parts(fd.url, workflow_id, body["since"], kpis["completed"])
        median = statistics.median(times)
        return {
            "bench": "analytics",
            "db": db_kind(database_url),
            "runs": count,
            "step_runs": n_steps,
            "days": 30,
            "granularity": "daily",
            "ms": round(median, 1),
            "min_ms": round(min(times), 1),
            "max_ms": round(max(times), 1),
            "target_ms": TARGET_MS,
            "meets_target": median < TARGET_MS,
            "parts_ms": parts,
            "insert_s": round(insert_s, 1),
        }


def run_history_bench(
    prog: str,
    doc: str | None,
    bench_fn: Callable[[str | None, int], Awaitable[dict[str, Any]]],
    argv: list[str] | None,
) -> None:
    """The command line shared by the benchmarks over a generated run history."""
    parser = argparse.ArgumentParser(prog=prog, description=doc)
    parser.add_argument(
        "--database-url",
        default=None,
        help="a PostgreSQL server URL: a fresh database flowdeck_bench_<id> is created there and "
        "dropped afterwards (default: a temporary SQLite file)",
    )
    parser.add_argument("--runs", type=int, default=100_000, help="runs to generate (100,000)")
    args = parser.parse_args(argv)
    print(json.dumps(asyncio.run(bench_fn(args.database_url, args.runs))), flush=True)


def main(argv: list[str] | None = None) -> None:
    """Parse the command line, run the benchmark, print its JSON line."""
    run_history_bench("python -m bench.analytics", __doc__, bench, argv)


if __name__ == "__main__":
    main()
