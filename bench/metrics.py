"""The /metrics scrape on a big history: `python -m bench.metrics [--database-url URL] [--runs N]`.

Bulk-inserts N runs (default 100,000; 1% of them still running) with their step runs, the same
history as bench.analytics, builds the rollups a live engine keeps as runs end, then times
`GET /metrics` through the API: median of 5 after one warm-up. For comparison it also times the
naive count of runs by status that the scrape avoids. Prints one JSON line on stdout.
"""

from __future__ import annotations

import asyncio
import statistics
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from bench.analytics import DEFINITION, bulk_insert, run_history_bench
from bench.harness import db_kind, now, running_flowdeck, say
from flowdeck.store.dialect import create_sync_engine
from flowdeck.store.store import Store
from flowdeck.store.tables import runs

REPEATS = 5


def _naive_count_ms(url: str) -> float:
    """Median ms of `SELECT status, count(*) FROM runs GROUP BY status`."""
    engine = create_sync_engine(url)
    times: list[float] = []
    try:
        with engine.connect() as conn:
            stmt = sa.select(runs.c.status, sa.func.count()).group_by(runs.c.status)
            for i in range(REPEATS + 1):
                t0 = now()
                conn.execute(stmt).all()
                if i:
                    times.append((now() - t0) * 1000)
    finally:
        engine.dispose()
    return round(statistics.median(times), 1)


async def bench(database_url: str | None, count: int) -> dict[str, Any]:
    """Build the history, then time the scrape."""
    # No worker: the seeded "running" runs are history to count, not work to pick up.
    async with running_flowdeck(database_url, run_worker=False) as fd:
        workflow_id = await fd.create_workflow(DEFINITION)
        say(f"inserting {count:,} runs with their step runs…")
        n_steps = await asyncio.to_thread(
            bulk_insert, fd.url, workflow_id, count, datetime.now(UTC)
        )
        store = Store.from_url(fd.url)
        snapshot: list[float] = []
        try:
            async with store.write() as tx:
                await tx.rebuild_step_rollups(workflow_id)
            for i in range(REPEATS + 1):
                async with store.read() as tx:
                    t0 = now()
                    await tx.cluster_snapshot(datetime.now(UTC))
                    if i:
                        snapshot.append((now() - t0) * 1000)
        finally:
            await store.close()
        times: list[float] = []
        body = ""
        for i in range(REPEATS + 1):
            t0 = now()
            resp = await fd.client.get("/metrics")
            elapsed = (now() - t0) * 1000
            resp.raise_for_status()
            body = resp.text
            if i:
                times.append(elapsed)
        counted = sum(
            float(line.rsplit(" ", 1)[1])
            for line in body.splitlines()
            if line.startswith(("flowdeck_runs_active{", "flowdeck_runs_finished_recorded{"))
        )
        if counted != count:
            raise RuntimeError(f"/metrics counted {counted} runs, not {count}")
        return {
            "bench": "metrics",
            "db": db_kind(database_url),
            "runs": count,
            "step_runs": n_steps,
            "ms": round(statistics.median(times), 1),
            "min_ms": round(min(times), 1),
            "max_ms": round(max(times), 1),
            "snapshot_query_ms": round(statistics.median(snapshot), 1),
            "naive_status_count_ms": await asyncio.to_thread(_naive_count_ms, fd.url),
        }


def main(argv: list[str] | None = None) -> None:
    """Parse the command line, run the benchmark, print its JSON line."""
    run_history_bench("python -m bench.metrics", __doc__, bench, argv)


if __name__ == "__main__":
    main()
