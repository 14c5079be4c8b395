"""P1, P1h, P2, P3 through a real `flowdeck serve`, observed over HTTP and its SSE stream.

`python -m bench.served [--only P1,P1h,P2,P3] [--database-url postgresql://…] [--quick]`

Each benchmark starts its own `flowdeck serve` on a fresh database (a temporary SQLite file, or
a fresh PostgreSQL database on the given server), waits for `/readyz`, and drives it like a
client would: `POST /run`, then the run's SSE stream until its final event. One JSON line per
result on stdout (`"mode": "served"`); progress on stderr.

- P1: a chain of 40 `transform` steps whose values are templates (`{{ steps.prev.output + 1 }}`):
  ms from `POST /run` to the `run_completed` event; median of 7 after 2 warm-ups.
- P1h: a chain of 40 `http_request` steps to a local endpoint (this process serves it).
- P2: one root → 500 parallel transforms → a join: steps per second, POST to final event.
- P3: 2,000 runs of a 3-step templated chain, 32 `POST /run` in flight: steps per second from
  the first POST until all completed, and the POST latencies while the engine runs.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
from httpx_sse import aconnect_sse

from bench.harness import fresh_database, say
from bench.scenarios import percentile

TARGETS = {"P1": 50.0, "P1h": 150.0, "P2": 3000.0, "P3": 2000.0, "P3_p99": 20.0}
KEY = "fd_bench_served_key_0123456789abcdef"


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _flowdeck() -> list[str]:
    script = Path(sys.executable).parent / "flowdeck"
    return [str(script)] if script.exists() else [sys.executable, "-m", "flowdeck"]


@contextlib.asynccontextmanager
async def served(database_url: str, workdir: Path, **env: str) -> AsyncIterator[httpx.AsyncClient]:
    """A `flowdeck serve` process on `database_url`, and a client with the admin key."""
    port = _free_port()
    full = {k: v for k, v in os.environ.items() if not k.startswith("FLOWDECK_")}
    full.update(
        FLOWDECK_BOOTSTRAP_API_KEY=KEY,
        FLOWDECK_RATE_LIMIT_PER_MINUTE="0",
        FLOWDECK_MAX_STREAMS_PER_KEY="100000",
        FLOWDECK_MAX_STEPS="1100",
        FLOWDECK_MAX_CONCURRENT_RUNS="2000",
        FLOWDECK_LOG_LEVEL="WARNING",
        **env,
    )
    log = (workdir / "serve.log").open("wb")
    command = [
        *_flowdeck(),
        "serve",
        "--port",
        str(port),
        "--data-dir",
        str(workdir / "data"),
        "--database-url",
        database_url,
    ]
    # Started once per benchmark, before anything is timed.
    proc = subprocess.Popen(command, env=full, stdout=log, stderr=subprocess.STDOUT)  # noqa: ASYNC220
    base = f"http://127.0.0.1:{port}"
    headers = {"Authorization": f"Bearer {KEY}"}
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
    try:
        async with httpx.AsyncClient(
            base_url=base, headers=headers, timeout=60, limits=limits
        ) as c:
            deadline = time.monotonic() + 60
            while True:
                with contextlib.suppress(httpx.TransportError):
                    if (await c.get("/readyz")).status_code == 200:
                        break
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError((workdir / "serve.log").read_text()[-3000:])
                await asyncio.sleep(0.1)
            yield c
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


async def create(client: httpx.AsyncClient, definition: dict[str, Any]) -> str:
    """Create a workflow; its id."""
    resp = await client.post("/api/workflows", json={"definition": definition})
    resp.raise_for_status()
    return str(resp.json()["id"])


async def run_to_end(client: httpx.AsyncClient, workflow_id: str) -> float:
    """Seconds from POST /run to the run's final SSE event (which must be run_completed)."""
    start = time.perf_counter()
    resp = await client.post(f"/api/workflows/{workflow_id}/run", json={"input_data": {}})
    resp.raise_for_status()
    run_id = resp.json()["run_id"]
    url = f"/api/workflows/runs/{run_id}/stream"
    async with aconnect_sse(client, "GET", url) as source:
        async for event in source.aiter_sse():
            if event.event in ("run_completed", "run_failed", "run_cancelled"):
                elapsed = time.perf_counter() - start
                if event.event != "run_completed":
                    raise RuntimeError(f"run {run_id}: {event.event} {event.data}")
                return elapsed
    raise RuntimeError(f"the stream of run {run_id} ended without a final event")


def templated_chain(length: int) -> dict[str, Any]:
    """`length` transforms, each adding one to the one before."""
    steps: list[dict[str, Any]] = [{"id": "t0", "type": "transform", "config": {"value": 0}}]
    for i in range(1, length):
        value = f"{{{{ steps.t{i - 1}.output + 1 }}}}"
        steps.append(
            {
                "id": f"t{i}",
                "type": "transform",
                "config": {"value": value},
                "depends_on": [f"t{i - 1}"],
            }
        )
    return {"name": f"Chain {length}", "steps": steps}


def http_chain(length: int, url: str) -> dict[str, Any]:
    """`length` http_request steps to `url`, one after another."""
    steps: list[dict[str, Any]] = []
    for i in range(length):
        step: dict[str, Any] = {"id": f"h{i}", "type": "http_request", "config": {"url": url}}
        if i:
            step["depends_on"] = [f"h{i - 1}"]
        steps.append(step)
    return {"name": f"HTTP chain {length}", "steps": steps}


def fan(width: int) -> dict[str, Any]:
    """A root, `width` parallel transforms, a join."""
    branches = [
        {"id": f"b{i}", "type": "transform", "config": {"value": i}, "depends_on": ["root"]}
        for i in range(width)
    ]
    join = {
        "id": "join",
        "type": "transform",
        "config": {"value": "done"},
        "depends_on": [b["id"] for b in branches],
    }
    return {
        "name": f"Fan {width}",
        "steps": [{"id": "root", "type": "transform", "config": {"value": 0}}, *branches, join],
    }


_ENDPOINT = """
import sys, uvicorn

async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    body = b'{"ok": true}'
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})

uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning",
            access_log=False, lifespan="off")
"""


@contextlib.contextmanager
def local_endpoint() -> Iterator[str]:
    """A tiny HTTP service answering `{"ok": true}` on 127.0.0.1, in a process of its own (a
    server in this process would share the interpreter with the client measuring)."""
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-c", _ENDPOINT, str(port)])
    url = f"http://127.0.0.1:{port}/ok"
    try:
        deadline = time.monotonic() + 30
        while True:
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(url).status_code == 200:
                    break
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the local endpoint did not start")
            time.sleep(0.05)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)


async def _median_run(client: httpx.AsyncClient, wf: str, runs: int, warm: int) -> list[float]:
    for _ in range(warm):
        await run_to_end(client, wf)
    return sorted([await run_to_end(client, wf) for _ in range(runs)])


async def p1(db: str, workdir: Path, quick: bool) -> dict[str, Any]:
    """P1 through the server."""
    async with served(db, workdir) as client:
        wf = await create(client, templated_chain(40))
        times = await _median_run(client, wf, 3 if quick else 7, 2)
    ms = statistics.median(times) * 1000
    return {
        "bench": "P1",
        "mode": "served",
        "steps": 40,
        "ms": round(ms, 1),
        "min_ms": round(times[0] * 1000, 1),
        "target_ms": TARGETS["P1"],
        "met": ms <= TARGETS["P1"],
    }


async def p1h(db: str, workdir: Path, quick: bool) -> dict[str, Any]:
    """P1h through the server."""
    with local_endpoint() as url:
        async with served(db, workdir, FLOWDECK_HTTP_ALLOW="127.0.0.1") as client:
            wf = await create(client, http_chain(40, url))
            times = await _median_run(client, wf, 3 if quick else 7, 2)
    ms = statistics.median(times) * 1000
    return {
        "bench": "P1h",
        "mode": "served",
        "steps": 40,
        "ms": round(ms, 1),
        "min_ms": round(times[0] * 1000, 1),
        "target_ms": TARGETS["P1h"],
        "met": ms <= TARGETS["P1h"],
    }


async def p2(db: str, workdir: Path, quick: bool) -> dict[str, Any]:
    """P2 through the server."""
    async with served(db, workdir) as client:
        wf = await create(client, fan(500))
        times = await _median_run(client, wf, 1 if quick else 3, 1)
    seconds = statistics.median(times)
    rate = 502 / seconds
    return {
        "bench": "P2",
        "mode": "served",
        "steps": 502,
        "ms": round(seconds * 1000, 1),
        "steps_per_s": round(rate, 1),
        "target_steps_per_s": TARGETS["P2"],
        "met": rate >= TARGETS["P2"],
    }


_WRK_SCRIPT = """
local sent = 0
local done_count = 0
wrk.method = "POST"
wrk.body = '{"input_data": {}}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer %(key)s"
function response(status, headers, body)
  done_count = done_count + 1
  if status ~= 202 then print("unexpected status " .. status) end
  if done_count >= %(runs)d then wrk.thread:stop() end
end
function done(summary, latency, requests)
  io.write(string.format('{"requests": %%d, "p50_us": %%d, "p99_us": %%d}\\n',
    summary.requests, latency:percentile(50), latency:percentile(99)))
end
"""


async def _post_with_wrk(
    base: str, wf: str, runs: int, in_flight: int, workdir: Path, finished: asyncio.Event
) -> dict[str, float]:
    """POST /run `runs` times with `in_flight` connections from wrk (a C load generator, so
    the client does not take the server's CPU); p50 and p99 latency in ms. wrk stops sending
    at `runs` but keeps its clock running, so it is interrupted once `finished` is set."""
    script = workdir / "p3.lua"
    script.write_text(_WRK_SCRIPT % {"key": KEY, "runs": runs})
    proc = await asyncio.create_subprocess_exec(
        "wrk",
        "-t1",
        f"-c{in_flight}",
        "-d600s",
        "-s",
        str(script),
        f"{base}/api/workflows/{wf}/run",
        stdout=asyncio.subprocess.PIPE,
    )
    await finished.wait()
    with contextlib.suppress(ProcessLookupError):
        proc.send_signal(signal.SIGINT)  # wrk prints its results on SIGINT
    out, _ = await proc.communicate()
    line = [x for x in out.decode().splitlines() if x.startswith("{")][-1]
    data = json.loads(line)
    return {"p50": data["p50_us"] / 1000, "p99": data["p99_us"] / 1000, "sent": data["requests"]}


async def _post_with_httpx(
    client: httpx.AsyncClient, wf: str, runs: int, in_flight: int
) -> dict[str, float]:
    latencies: list[float] = []
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(runs):
        queue.put_nowait(i)

    async def poster() -> None:
        while not queue.empty():
            queue.get_nowait()
            t = time.perf_counter()
            resp = await client.post(f"/api/workflows/{wf}/run", json={"input_data": {}})
            latencies.append(time.perf_counter() - t)
            resp.raise_for_status()

    await asyncio.gather(*(poster() for _ in range(in_flight)))
    return {
        "p50": percentile(latencies, 50) * 1000,
        "p99": percentile(latencies, 99) * 1000,
        "sent": len(latencies),
    }


async def p3(db: str, workdir: Path, quick: bool, in_flight: int = 32) -> dict[str, Any]:
    """P3 through the server."""
    runs = 400 if quick else 2000
    async with served(db, workdir) as client:
        wf = await create(client, templated_chain(3))
        start = time.perf_counter()
        finished = asyncio.Event()

        async def all_completed() -> float:
            while True:
                resp = await client.get(f"/api/workflows/{wf}/runs?status=completed&limit=1")
                if resp.json()["total"] >= runs:
                    finished.set()
                    return time.perf_counter() - start
                await asyncio.sleep(0.02)

        waiter = asyncio.create_task(all_completed())
        if shutil.which("wrk"):
            posts = await _post_with_wrk(
                str(client.base_url), wf, runs, in_flight, workdir, finished
            )
            load = "wrk"
        else:
            posts = await _post_with_httpx(client, wf, runs, in_flight)
            load = "httpx (install wrk: the client then takes a core of its own)"
        seconds = await waiter
    rate = posts["sent"] * 3 / seconds
    return {
        "bench": "P3",
        "mode": "served",
        "runs": posts["sent"],
        "s": round(seconds, 2),
        "steps_per_s": round(rate, 1),
        "api_p50_ms": round(posts["p50"], 1),
        "api_p99_ms": round(posts["p99"], 1),
        "load": load,
        "target_steps_per_s": TARGETS["P3"],
        "target_p99_ms": TARGETS["P3_p99"],
        "met": rate >= TARGETS["P3"] and posts["p99"] < TARGETS["P3_p99"],
    }


SCENARIOS = {"P1": p1, "P1h": p1h, "P2": p2, "P3": p3}


async def main(argv: list[str] | None = None) -> int:
    """Run the chosen benchmarks."""
    parser = argparse.ArgumentParser(prog="python -m bench.served", description=__doc__)
    parser.add_argument("--only", default=",".join(SCENARIOS))
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    for name in [n.strip() for n in args.only.split(",") if n.strip()]:
        with tempfile.TemporaryDirectory(prefix="flowdeck-served-") as tmp:
            workdir = Path(tmp)
            with fresh_database(args.database_url, workdir) as db:
                say(f"{name}: a real flowdeck serve on {db.split(':')[0]}")
                result = await SCENARIOS[name](db, workdir, args.quick)
                result["db"] = "sqlite" if db.startswith("sqlite") else "postgresql"
                print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
