"""Shared helpers for step handler tests: a StepContext builder and a real local HTTP peer."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import uuid
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx

from flowdeck.domain.clock import SystemClock
from flowdeck.engine.steps.base import Completed, StepContext, StepEnvironment, StepFailed

RUN_ID = "run_123"
STEP_ID = "call"


def make_context(
    config: Mapping[str, Any],
    *,
    http: httpx.AsyncClient,
    step_type: str,
    template_context: Mapping[str, Any] | None = None,
    timeout_seconds: float | None = None,
    redact: Callable[[Any], Any] | None = None,
    **env: Any,
) -> StepContext:
    """A StepContext for one attempt of step `call` in run `run_123`."""
    ctx = StepContext(
        run_id=RUN_ID,
        workflow_id="wf_1",
        workspace_id="ws_1",
        step_id=STEP_ID,
        step_type=step_type,
        attempt=1,
        config=config,
        template_context=template_context or {},
        env=StepEnvironment(http=http, clock=SystemClock(), **env),
        timeout_seconds=timeout_seconds,
    )
    if redact is not None:
        ctx.redact = redact
    return ctx


def redactor(*secrets: str) -> Callable[[Any], Any]:
    """A redact function masking `secrets` as `***` in every string inside a value."""

    def redact(value: Any) -> Any:
        if isinstance(value, str):
            for secret in secrets:
                value = value.replace(secret, "***")
            return value
        if isinstance(value, dict):
            return {key: redact(item) for key, item in value.items()}
        if isinstance(value, list):
            return [redact(item) for item in value]
        return value

    return redact


def refused_url() -> str:
    """A URL on 127.0.0.1 where nothing listens."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/"


def is_alive(pid: int) -> bool:
    """Whether `pid` is a running process (a zombie awaiting its reaper counts as gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


def processes_with(marker: str) -> list[int]:
    """Live processes whose command line contains `marker` (found through /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or not is_alive(int(entry.name)):
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if marker.encode() in cmdline:
            found.append(int(entry.name))
    return found


async def wait_until_no_process_with(marker: str, seconds: float = 5) -> list[int]:
    """Wait until no process carries `marker`; the survivors if some outlive `seconds`."""
    survivors = processes_with(marker)
    for _ in range(int(seconds / 0.05)):
        if not survivors:
            break
        await asyncio.sleep(0.05)
        survivors = processes_with(marker)
    return survivors


def unique_sleep_seconds() -> str:
    """A `sleep` duration (about 97 s) unique to this call: a marker to find the process by."""
    return f"97.{uuid.uuid4().int % 10**9:09d}"


@dataclass
class Reply:
    """How the peer answers a path."""

    status: int = 200
    body: bytes | str | Any = b""
    content_type: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0

    def encoded(self) -> tuple[bytes, str]:
        """The body bytes and their content type."""
        if isinstance(self.body, bytes):
            return self.body, self.content_type or "application/octet-stream"
        if isinstance(self.body, str):
            return self.body.encode(), self.content_type or "text/plain; charset=utf-8"
        return json.dumps(self.body).encode(), self.content_type or "application/json"


@dataclass
class Received:
    """One request as the peer saw it."""

    method: str
    path: str
    query: list[tuple[str, str]]
    headers: dict[str, str]
    body: bytes


class HttpPeer:
    """A minimal HTTP/1.1 server on 127.0.0.1 that records requests and answers per path."""

    def __init__(self) -> None:
        self.requests: list[Received] = []
        self.replies: dict[str, Reply] = {}
        self.received = asyncio.Event()
        self.disconnected = asyncio.Event()
        self._handlers: set[asyncio.Task[Any]] = set()
        self._server: asyncio.Server | None = None
        self.port = 0

    def url(self, path: str = "/") -> str:
        """The absolute URL of `path` on this peer."""
        return f"http://127.0.0.1:{self.port}{path}"

    async def start(self) -> None:
        """Listen on a free port."""
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        """Stop listening and end the connections still open."""
        if self._server is not None:
            self._server.close()
        for task in list(self._handlers):
            task.cancel()
        if self._handlers:
            await asyncio.wait(self._handlers)
        if self._server is not None:
            await self._server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        try:
            await self._serve_one(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            self.disconnected.set()
        finally:
            self._handlers.discard(task)
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    async def _serve_one(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        request_line = await reader.readline()
        if not request_line:
            return
        method, target, _ = request_line.decode("latin-1").split(" ", 2)
        headers: dict[str, str] = {}
        while (line := await reader.readline()) not in (b"\r\n", b"\n", b""):
            name, _, value = line.decode("latin-1").partition(":")
            headers[name.strip().lower()] = value.strip()
        length = int(headers.get("content-length", "0"))
        body = await reader.readexactly(length) if length else b""
        parts = urlsplit(target)
        self.requests.append(
            Received(
                method, parts.path, parse_qsl(parts.query, keep_blank_values=True), headers, body
            )
        )
        self.received.set()
        reply = self.replies.get(parts.path, Reply())
        if reply.delay and await self._client_left(reader, reply.delay):
            self.disconnected.set()
            return
        data, content_type = reply.encoded()
        head = [f"HTTP/1.1 {reply.status} X", f"Content-Type: {content_type}"]
        head += [f"Content-Length: {len(data)}", "Connection: close"]
        head += [f"{name}: {value}" for name, value in reply.headers.items()]
        writer.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + data)
        await writer.drain()

    @staticmethod
    async def _client_left(reader: asyncio.StreamReader, delay: float) -> bool:
        """Wait `delay` seconds; True as soon as the client closes the connection."""
        try:
            async with asyncio.timeout(delay):
                return await reader.read(1) == b""
        except TimeoutError:
            return False


@contextlib.asynccontextmanager
async def running_peer() -> AsyncIterator[HttpPeer]:
    """An HttpPeer listening for the duration of the block."""
    peer = HttpPeer()
    await peer.start()
    try:
        yield peer
    finally:
        await peer.stop()


async def completed_output(
    handler: Any, http: httpx.AsyncClient, config: dict[str, Any], **kwargs: Any
) -> Any:
    """Run one attempt of `handler`; it must complete; returns its output."""
    ctx = make_context(config, http=http, step_type=handler.type_name, **kwargs)
    outcome = await handler.execute(ctx)
    assert isinstance(outcome, Completed)
    return outcome.output


async def step_failure(
    handler: Any, http: httpx.AsyncClient, config: dict[str, Any], **kwargs: Any
) -> StepFailed:
    """Run one attempt of `handler`; it must fail; returns the failure."""
    ctx = make_context(config, http=http, step_type=handler.type_name, **kwargs)
    try:
        await handler.execute(ctx)
    except StepFailed as failure:
        return failure
    raise AssertionError("the step did not fail")
