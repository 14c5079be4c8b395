"""Web UI pages on a big history: `python -m bench.ui_pages [--database-url URL] [--runs N]`.

Bulk-inserts N runs (default 10,000) of one workflow (bench.analytics' history), logs in to the
UI like a browser, then times every page through the app: median of 5 after one warm-up. Prints
one JSON line per page on stdout; progress goes to stderr. The target is 200 ms a page.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import statistics
from datetime import UTC, datetime
from typing import Any

from bench.analytics import DEFINITION, bulk_insert
from bench.harness import now, running_flowdeck, say

TARGET_MS = 200.0
REPEATS = 5


def _pages(wf: str, run: str) -> list[str]:
    base = f"/ui/workflows/{wf}"
    return [
        "/ui/workflows",
        base,
        f"{base}/runs",
        f"{base}/runs?status=failed",
        f"{base}/analytics",
        f"{base}/versions",
        f"{base}/schedules",
        f"{base}/definition",
        f"{base}/related",
        f"{base}/run",
        "/ui/runs",
        "/ui/runs?status=completed",
        f"/ui/runs/{run}",
        "/ui/approvals",
        "/ui/templates",
        "/ui/settings",
    ]


async def bench(database_url: str | None, count: int) -> list[dict[str, Any]]:
    """Build the history, log in, time each page."""
    async with running_flowdeck(database_url, run_worker=False) as fd:
        wf = await fd.create_workflow(DEFINITION)
        say(f"inserting {count:,} runs…")
        await asyncio.to_thread(bulk_insert, fd.url, wf, count, datetime.now(UTC))
        login = await fd.client.get("/ui/login")
        csrf = re.search(r'name="csrf" value="([^"]+)"', login.text)
        assert csrf is not None
        await fd.client.post("/ui/login", data={"api_key": fd.key, "csrf": csrf.group(1)})
        runs = await fd.client.get("/api/runs", params={"limit": 1}, headers=fd.headers)
        run = runs.json()["runs"][0]["id"]
        results = []
        for path in _pages(wf, run):
            times = []
            for i in range(REPEATS + 1):
                t0 = now()
                resp = await fd.client.get(path)
                elapsed = (now() - t0) * 1000
                if resp.status_code != 200:
                    raise RuntimeError(f"{path} answered {resp.status_code}: {resp.text[:300]}")
                if i:
                    times.append(elapsed)
            median = statistics.median(times)
            results.append(
                {
                    "page": path.replace(wf, "{wf}").replace(run, "{run}"),
                    "runs": count,
                    "median_ms": round(median, 1),
                    "max_ms": round(max(times), 1),
                    "target_ms": TARGET_MS,
                    "ok": median < TARGET_MS,
                }
            )
        return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--runs", type=int, default=10_000)
    args = parser.parse_args()
    for line in asyncio.run(bench(args.database_url, args.runs)):
        print(json.dumps(line))


if __name__ == "__main__":
    main()
