"""Helpers for run tests through the API: start and poll runs, read SSE, serve the app with
other settings."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from flowdeck.api.app import create_app
from flowdeck.config import Settings
from flowdeck.domain.clock import SystemClock
from flowdeck.services.auth import AuthService
from flowdeck.store.store import Store
from tests.integration.conftest import Api

TERMINAL = frozenset({"completed", "failed", "cancelled"})
RUNS = "/api/workflows/runs"


# -- workflows and runs --------------------------------------------------------------------


async def create_workflow(
    api: Api, definition: dict[str, Any], *, headers: dict[str, str] | None = None
) -> str:
    """Create a workflow and return its id."""
    resp = await api.client.post(
        "/api/workflows", json={"definition": definition}, headers=headers or api.headers
    )
    assert resp.status_code == 201, resp.text
    return str(resp.json()["id"])


async def start_run(
    api: Api,
    workflow_id: str,
    input_data: dict[str, Any] | None = None,
    *,
    headers: dict[str, str] | None = None,
) -> str:
    """Start a run (202) and return its id."""
    resp = await api.client.post(
        f"/api/workflows/{workflow_id}/run",
        json={"input_data": input_data or {}},
        headers=headers or api.headers,
    )
    assert resp.status_code == 202, resp.text
    body = resp.json()
    assert body["run_id"].startswith("run_")
    return str(body["run_id"])


async def get_run(api: Api, run_id: str, *, headers: dict[str, str] | None = None) -> Any:
    """The run's detail (with its step runs)."""
    resp = await api.client.get(f"{RUNS}/{run_id}", headers=headers or api.headers)
    assert resp.status_code == 200, resp.text
    return resp.json()["run"]


async def wait_until(
    check: Callable[[], Awaitable[Any]],
    *,
    timeout: float = 20.0,  # noqa: ASYNC109 - a failure guard, reported with the last value
    interval: float = 0.02,
) -> Any:
    """Call `check` until it returns something truthy (returned); fail after `timeout`."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        value = await check()
        if value:
            return value
        if loop.time() > deadline:
            raise AssertionError(f"condition not met within {timeout}s (last value: {value!r})")
        await asyncio.sleep(interval)


async def wait_for_run(
    api: Api,
    run_id: str,
    statuses: Iterable[str] = TERMINAL,
    timeout: float = 20.0,  # noqa: ASYNC109 - a failure guard, reported with the run
    *,
    headers: dict[str, str] | None = None,
) -> Any:
    """Poll the run every ~20 ms until its status is one of `statuses`; return it."""
    wanted = frozenset(statuses)
    last: dict[str, Any] = {}

    async def check() -> Any:
        nonlocal last
        last = await get_run(api, run_id, headers=headers)
        return last if last["status"] in wanted else None

    try:
        return await wait_until(check, timeout=timeout)
    except AssertionError:
        raise AssertionError(
            f"run {run_id} did not reach {sorted(wanted)} within {timeout}s; it is "
            f"{last.get('status')}: {json.dumps(last, indent=1)[:3000]}"
        ) from None


async def wait_for_step(
    api: Api,
    run_id: str,
    step_id: str,
    statuses: Iterable[str],
    timeout: float = 20.0,  # noqa: ASYNC109 - a failure guard
) -> Any:
    """Poll until the current attempt of `step_id` has one of `statuses`; return the run."""
    wanted = frozenset(statuses)

    async def check() -> Any:
        run = await get_run(api, run_id)
        step = current(run, step_id)
        return run if step is not None and step["status"] in wanted else None

    return await wait_until(check, timeout=timeout)


async def run_to_end(
    api: Api, definition: dict[str, Any], input_data: dict[str, Any] | None = None
) -> Any:
    """Create the workflow, start a run, and return the run once it has ended."""
    wf = await create_workflow(api, definition)
    run_id = await start_run(api, wf, input_data)
    return await wait_for_run(api, run_id)


def attempts(run: dict[str, Any], step_id: str) -> list[dict[str, Any]]:
    """Every attempt of one step, in attempt order."""
    found = [s for s in run["step_runs"] if s["step_id"] == step_id]
    return sorted(found, key=lambda s: s["attempt"])


def current(run: dict[str, Any], step_id: str) -> Any:
    """The current attempt of one step, or None when the step has no step run."""
    found = [s for s in run["step_runs"] if s["step_id"] == step_id and s["current"]]
    assert len(found) <= 1, found
    return found[0] if found else None


def statuses(run: dict[str, Any]) -> dict[str, str]:
    """step_id → status of each step's current attempt."""
    return {s["step_id"]: s["status"] for s in run["step_runs"] if s["current"]}


def outputs(run: dict[str, Any]) -> dict[str, Any]:
    """step_id → output of each step's current attempt."""
    return {s["step_id"]: s["output"] for s in run["step_runs"] if s["current"]}


def transform(step_id: str, value: Any, **extra: Any) -> dict[str, Any]:
    """A transform step."""
    return {"id": step_id, "type": "transform", "config": {"value": value}, **extra}


def failing(step_id: str, **extra: Any) -> dict[str, Any]:
    """A step that always fails for good (a template error at run time)."""
    return transform(step_id, "{{ [1][5] }}", **extra)


def wait(step_id: str, seconds: float, **extra: Any) -> dict[str, Any]:
    """A wait step."""
    return {"id": step_id, "type": "wait", "config": {"seconds": seconds}, **extra}


def http_get(step_id: str, url: str, **extra: Any) -> dict[str, Any]:
    """A GET http_request step that expects a 200."""
    config = {"method": "GET", "url": url, "expect_status": [200]}
    return {"id": step_id, "type": "http_request", "config": config, **extra}


# -- SSE -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class SseEvent:
    """One parsed server-sent event."""

    id: int | None
    event: str
    data: Any


def parse_sse(lines: Iterable[str]) -> list[SseEvent]:
    """Parse SSE lines (comments and pings dropped) into events."""
    events: list[SseEvent] = []
    fields: dict[str, list[str]] = {}
    for raw in [*lines, ""]:
        line = raw.rstrip("\r")
        if not line:
            if "data" in fields or "event" in fields:
                data = "\n".join(fields.get("data", []))
                ident = fields.get("id", [None])[-1]
                events.append(
                    SseEvent(
                        id=int(ident) if ident else None,
                        event=fields.get("event", ["message"])[-1],
                        data=json.loads(data) if data else None,
                    )
                )
            fields = {}
            continue
        if line.startswith(":"):
            continue
        name, _, value = line.partition(":")
        fields.setdefault(name, []).append(value.removeprefix(" "))
    return events


async def read_sse(
    client: httpx.AsyncClient,
    run_id: str,
    headers: dict[str, str],
    *,
    last_event_id: int | None = None,
    on_event: Callable[[SseEvent], Awaitable[None]] | None = None,
) -> list[SseEvent]:
    """Read a run's stream to its end, parsing events as they arrive."""
    sent = dict(headers)
    if last_event_id is not None:
        sent["Last-Event-ID"] = str(last_event_id)
    events: list[SseEvent] = []
    block: list[str] = []
    async with client.stream("GET", f"{RUNS}/{run_id}/stream", headers=sent) as resp:
        assert resp.status_code == 200, await resp.aread()
        assert resp.headers["content-type"].startswith("text/event-stream")
        async for line in resp.aiter_lines():
            if line.strip():
                block.append(line)
                continue
            for event in parse_sse(block):
                events.append(event)
                if on_event is not None:
                    await on_event(event)
            block = []
    events.extend(parse_sse(block))
    return events


class StreamingASGITransport(httpx.AsyncBaseTransport):
    """Like httpx.ASGITransport, but hands out the body while the app is still sending it.

    httpx's own ASGI transport buffers the whole response, which hides whether a stream
    follows a run live.
    """

    def __init__(self, app: Any) -> None:
        self.app = app

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        body = await request.aread()
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": request.method,
            "headers": [(k.lower(), v) for k, v in request.headers.raw],
            "scheme": request.url.scheme,
            "path": request.url.path,
            "raw_path": request.url.raw_path.split(b"?")[0],
            "query_string": request.url.query,
            "server": (request.url.host, request.url.port),
            "client": ("127.0.0.1", 1234),
            "root_path": "",
        }
        chunks: asyncio.Queue[bytes | None] = asyncio.Queue()
        started: asyncio.Future[tuple[int, list[tuple[bytes, bytes]]]] = (
            asyncio.get_running_loop().create_future()
        )
        closed = asyncio.Event()
        body_sent = False

        async def receive() -> dict[str, Any]:
            nonlocal body_sent
            if not body_sent:
                body_sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            await closed.wait()
            return {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                started.set_result((message["status"], list(message.get("headers", []))))
            elif message["type"] == "http.response.body":
                if message.get("body"):
                    chunks.put_nowait(message["body"])
                if not message.get("more_body", False):
                    chunks.put_nowait(None)

        async def serve() -> None:
            try:
                await self.app(scope, receive, send)
            except BaseException as exc:
                if not started.done():
                    started.set_exception(exc)
                raise
            finally:
                chunks.put_nowait(None)

        task = asyncio.create_task(serve())
        status, headers = await started
        return httpx.Response(status, headers=headers, stream=_QueueStream(chunks, closed, task))


class _QueueStream(httpx.AsyncByteStream):
    def __init__(
        self, chunks: asyncio.Queue[bytes | None], closed: asyncio.Event, task: asyncio.Task[None]
    ) -> None:
        self._chunks = chunks
        self._closed = closed
        self._task = task

    async def __aiter__(self) -> AsyncIterator[bytes]:
        while (chunk := await self._chunks.get()) is not None:
            yield chunk

    async def aclose(self) -> None:
        self._closed.set()
        try:
            async with asyncio.timeout(5):
                await asyncio.shield(self._task)
        except TimeoutError:
            self._task.cancel()
        except Exception:  # the app's own failure was already reported through the status
            pass


# -- an app with other settings ------------------------------------------------------------


def settings_for(database_url: str, tmp_path: Path, **overrides: Any) -> Settings:
    """Settings like the `settings` fixture's (loopback opened for the peers), with `overrides`."""
    overrides.setdefault("http_allow", "127.0.0.1")
    return Settings(data_dir=tmp_path / "data", database_url=database_url, **overrides)


@contextlib.asynccontextmanager
async def serve(settings: Settings, store: Store, key: str | None = None) -> AsyncIterator[Api]:
    """The app on `store` with `settings` (and its worker), as the `api` fixture serves it."""
    if key is None:
        key = await AuthService(store, SystemClock()).bootstrap(None)
        assert key is not None
    app = create_app(settings, store=store)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://flowdeck.test") as c:
            yield Api(client=c, key=key, store=store)
