"""Flowdeck in-process: a fresh database, an admin key, the app and an httpx client on it."""

from __future__ import annotations

import asyncio
import logging
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

from flowdeck.api.app import create_app
from flowdeck.config import Settings
from flowdeck.domain.clock import SystemClock
from flowdeck.services.auth import AuthService
from flowdeck.store.dialect import is_sqlite
from flowdeck.store.migrate import upgrade
from flowdeck.store.store import Store

BASE_URL = "http://flowdeck.bench"
FINAL_EVENTS = ("run_completed", "run_failed", "run_cancelled")
TERMINAL = ("completed", "failed", "cancelled")


def say(message: str) -> None:
    """Human chatter: stderr only, so stdout stays one JSON line per result."""
    print(message, file=sys.stderr, flush=True)


def db_kind(url: str | None) -> str:
    """ "sqlite" or "postgresql", for the JSON lines."""
    return "sqlite" if url is None or is_sqlite(url) else "postgresql"


def _pg_url(url: str, **parts: Any) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).set(**parts).render_as_string(hide_password=False)


@contextmanager
def fresh_database(server_url: str | None, workdir: Path) -> Iterator[str]:
    """A migrated, empty database: a SQLite file in `workdir`, or a new PostgreSQL database
    named flowdeck_bench_<random> on `server_url`'s server, dropped afterwards."""
    if server_url is None or is_sqlite(server_url):
        url = f"sqlite:///{workdir / 'flowdeck.db'}"
        upgrade(url)
        yield url
        return
    import psycopg

    name = f"flowdeck_bench_{uuid.uuid4().hex[:10]}"
    admin = _pg_url(server_url, drivername="postgresql", database="postgres")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        url = _pg_url(server_url, database=name)
        upgrade(url)
        yield url
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@dataclass
class Flowdeck:
    """A running in-process Flowdeck and a client that talks to it over ASGI."""

    client: httpx.AsyncClient
    key: str
    url: str

    @property
    def headers(self) -> dict[str, str]:
        """The admin key's Authorization header."""
        return {"Authorization": f"Bearer {self.key}"}

    async def create_workflow(self, definition: dict[str, Any]) -> str:
        """POST the definition; returns the workflow id."""
        resp = await self.client.post(
            "/api/workflows", json={"definition": definition}, headers=self.headers
        )
        if resp.status_code != 201:
            raise RuntimeError(f"creating {definition['name']!r} failed: {resp.text[:500]}")
        return str(resp.json()["id"])

    async def start_run(self, workflow_id: str) -> str:
        """POST /run; returns the run id."""
        resp = await self.client.post(
            f"/api/workflows/{workflow_id}/run", json={}, headers=self.headers
        )
        if resp.status_code != 202:
            raise RuntimeError(f"starting a run failed: {resp.status_code} {resp.text[:500]}")
        return str(resp.json()["run_id"])

    async def follow_run(self, run_id: str) -> str:
        """Follow the run's SSE stream until its final event; returns that event's type.

        The stream ends right after the final event, so this returns when the run ends.
        """
        last = ""
        async with self.client.stream(
            "GET", f"/api/workflows/runs/{run_id}/stream", headers=self.headers
        ) as resp:
            if resp.status_code != 200:
                raise RuntimeError(f"stream of {run_id} failed: {resp.status_code}")
            async for line in resp.aiter_lines():
                if line.startswith("event:"):
                    last = line.removeprefix("event:").strip()
                    if last in FINAL_EVENTS:
                        break
        return last

    async def get_run(self, run_id: str) -> dict[str, Any]:
        """GET one run with its step runs."""
        resp = await self.client.get(f"/api/workflows/runs/{run_id}", headers=self.headers)
        resp.raise_for_status()
        run: dict[str, Any] = resp.json()["run"]
        return run

    async def wait_run(self, run_id: str, interval: float) -> dict[str, Any]:
        """Poll GET /runs/{id} every `interval` seconds until the run has ended."""
        while True:
            run = await self.get_run(run_id)
            if run["status"] in TERMINAL:
                return run
            await asyncio.sleep(interval)

    async def latest_run(self, workflow_id: str) -> dict[str, Any]:
        """The workflow's newest run, from the list endpoint (no step runs: cheap to poll)."""
        resp = await self.client.get(
            f"/api/workflows/{workflow_id}/runs", params={"limit": 1}, headers=self.headers
        )
        resp.raise_for_status()
        run: dict[str, Any] = resp.json()["runs"][0]
        return run

    async def wait_latest(self, workflow_id: str, run_id: str, interval: float) -> dict[str, Any]:
        """Poll the list endpoint until `run_id` (the newest run) has ended."""
        while True:
            run = await self.latest_run(workflow_id)
            if run["id"] == run_id and run["status"] in TERMINAL:
                return run
            await asyncio.sleep(interval)

    async def count_runs(self, workflow_id: str, status: str) -> int:
        """How many of the workflow's runs are in `status` (the list endpoint's total)."""
        resp = await self.client.get(
            f"/api/workflows/{workflow_id}/runs",
            params={"status": status, "limit": 1},
            headers=self.headers,
        )
        resp.raise_for_status()
        return int(resp.json()["total"])


@asynccontextmanager
async def running_flowdeck(server_url: str | None, **settings: Any) -> AsyncIterator[Flowdeck]:
    """Migrate a fresh database, bootstrap an admin key, start the app (and its worker)."""
    logging.getLogger("flowdeck").setLevel(logging.WARNING)
    with tempfile.TemporaryDirectory(prefix="flowdeck-bench-") as tmp:
        workdir = Path(tmp)
        with fresh_database(server_url, workdir) as url:
            store = Store.from_url(url)
            try:
                key = await AuthService(store, SystemClock()).bootstrap(None)
            finally:
                await store.close()
            assert key is not None
            # The benchmarks drive one key far past any sensible request rate on purpose.
            unlimited: dict[str, Any] = {"rate_limit_per_minute": 0, "max_streams_per_key": 0}
            app = create_app(
                Settings(database_url=url, data_dir=workdir / "data", **(unlimited | settings)),
            )
            async with app.router.lifespan_context(app):
                transport = httpx.ASGITransport(app=app)
                async with httpx.AsyncClient(
                    transport=transport, base_url=BASE_URL, timeout=120.0
                ) as client:
                    yield Flowdeck(client=client, key=key, url=url)


def now() -> float:
    """A monotonic clock in seconds."""
    return time.perf_counter()


def server_ms(run: dict[str, Any], start: str = "created_at") -> float:
    """Milliseconds from the run's `start` timestamp to its completed_at, by the server's clock."""
    begin = datetime.fromisoformat(run[start].replace("Z", "+00:00"))
    end = datetime.fromisoformat(run["completed_at"].replace("Z", "+00:00"))
    return (end - begin).total_seconds() * 1000
