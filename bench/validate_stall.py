"""How long does validating a maximal definition hold a real server's event loop?

Starts `flowdeck serve` on a temporary data dir, then POSTs a 1,000-step definition of about
1 MiB (as an object, as YAML text and as JSON text) to /api/workflows/validate while another
connection asks /healthz every 2 ms. One JSON line per format: the validate request's time and
the slowest /healthz answer of each round (what any other request would have waited); the
`idle` line is the control, the same polling for 0.3 s with no validation.

    python -m bench.validate_stall [--rounds 5]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import yaml

KEY = "fdk_bench_validate_stall_0123456789"


def maximal_definition(steps: int = 1000, pad: int = 700) -> dict[str, Any]:
    """`steps` transforms in a chain, each reading its upstream, padded to about 1 MiB."""
    return {
        "name": "Maximal",
        "steps": [
            {
                "id": f"s{i}",
                "type": "transform",
                "config": {"value": {"text": "x" * pad, "prev": f"{{{{ steps.s{i - 1}.output }}}}"}}
                if i
                else {"value": 0},
                "depends_on": [f"s{i - 1}"] if i else [],
            }
            for i in range(steps)
        ],
    }


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _round(base: str, body: bytes | None) -> tuple[float, float]:
    headers = {"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"}
    slowest = 0.0
    done = asyncio.Event()
    async with httpx.AsyncClient(base_url=base) as probe, httpx.AsyncClient(base_url=base) as c:

        async def poll() -> None:
            nonlocal slowest
            while not done.is_set():
                start = time.perf_counter()
                await probe.get("/healthz")
                slowest = max(slowest, time.perf_counter() - start)
                await asyncio.sleep(0.002)

        poller = asyncio.create_task(poll())
        start = time.perf_counter()
        if body is None:  # the control: the same polling while the server is idle
            await asyncio.sleep(0.3)
        else:
            resp = await c.post("/api/workflows/validate", content=body, headers=headers)
            assert resp.status_code == 200 and resp.json()["valid"], resp.text[:300]
        took = time.perf_counter() - start
        done.set()
        await poller
    return took, slowest


async def measure(base: str, rounds: int) -> None:
    definition = maximal_definition()
    bodies: dict[str, Any] = {
        "idle": None,
        "object": {"definition": definition},
        "yaml": {"definition": yaml.safe_dump(definition)},
        "json-text": {"definition": json.dumps(definition)},
    }
    for form, payload in bodies.items():
        body = json.dumps(payload).encode() if payload is not None else None
        results = [await _round(base, body) for _ in range(rounds)]
        line = {
            "bench": "validate_stall",
            "form": form,
            "body_bytes": len(body or b""),
            "steps": len(definition["steps"]),
            "validate_ms_median": round(sorted(r[0] for r in results)[rounds // 2] * 1000, 1),
            "healthz_max_ms_per_round": [round(r[1] * 1000, 1) for r in results],
        }
        print(json.dumps(line), flush=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)
    port = _free_port()
    with tempfile.TemporaryDirectory() as tmp:
        env = {
            **os.environ,
            "FLOWDECK_DATA_DIR": str(Path(tmp) / "data"),
            "FLOWDECK_BOOTSTRAP_API_KEY": KEY,
            "FLOWDECK_PORT": str(port),
            "FLOWDECK_LOG_LEVEL": "WARNING",
        }
        env.pop("FLOWDECK_DATABASE_URL", None)
        server = subprocess.Popen(
            [sys.executable, "-m", "flowdeck.cli.main", "serve"], env=env, stderr=subprocess.DEVNULL
        )
        base = f"http://127.0.0.1:{port}"
        try:
            for _ in range(200):
                try:
                    if httpx.get(f"{base}/healthz").status_code == 200:
                        break
                except httpx.TransportError:
                    time.sleep(0.1)
            asyncio.run(measure(base, args.rounds))
        finally:
            server.terminate()
            server.wait(timeout=30)


if __name__ == "__main__":
    main()
