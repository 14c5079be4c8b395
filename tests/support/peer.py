"""A real local HTTP/1.1 server standing in for the outside world: it records requests and
answers per path, a reply or a sequence of replies, optionally delayed (a delayed reply can be
released at once, and notices a client that hangs up)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlsplit


@dataclass
class Reply:
    """How the peer answers a path."""

    status: int = 200
    body: bytes | str | Any = b""
    content_type: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    # Seconds before answering (or until `HttpPeer.release()`).
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


class ReplyBook(dict[str, Reply]):
    """Replies per path, where a path may answer a sequence of replies (the last repeats);
    `calls` counts the requests per path."""

    def __init__(self) -> None:
        super().__init__()
        self.sequences: dict[str, list[Reply]] = {}
        self.calls: dict[str, int] = {}

    def answer(self, path: str) -> Reply:
        """The reply for the next request to `path` (a 200 with no body when none is set)."""
        self.calls[path] = self.calls.get(path, 0) + 1
        sequence = self.sequences.get(path)
        if sequence:
            return sequence.pop(0) if len(sequence) > 1 else sequence[0]
        return self.get(path, Reply())

    def then(self, path: str, *replies: Reply) -> None:
        """Answer `path` with these replies in turn, repeating the last one."""
        self.sequences[path] = list(replies)


class HttpPeer:
    """A minimal HTTP/1.1 server on 127.0.0.1 that records requests and answers per path."""

    def __init__(self) -> None:
        self.requests: list[Received] = []
        self.replies = ReplyBook()
        self.received = asyncio.Event()
        self.disconnected = asyncio.Event()
        self.gate = asyncio.Event()
        self._handlers: set[asyncio.Task[Any]] = set()
        self._server: asyncio.Server | None = None
        self.port = 0

    @property
    def calls(self) -> dict[str, int]:
        """Requests per path so far."""
        return self.replies.calls

    def then(self, path: str, *replies: Reply) -> None:
        """Answer `path` with these replies in turn, repeating the last one."""
        self.replies.then(path, *replies)

    def url(self, path: str = "/") -> str:
        """The absolute URL of `path` on this peer."""
        return f"http://127.0.0.1:{self.port}{path}"

    def release(self) -> None:
        """Answer every delayed request now (and later ones without delay)."""
        self.gate.set()

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
        reply = self.replies.answer(parts.path)
        if reply.delay and await self._client_left(reader, reply.delay):
            self.disconnected.set()
            return
        data, content_type = reply.encoded()
        head = [f"HTTP/1.1 {reply.status} X", f"Content-Type: {content_type}"]
        head += [f"Content-Length: {len(data)}", "Connection: close"]
        head += [f"{name}: {value}" for name, value in reply.headers.items()]
        writer.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + data)
        await writer.drain()

    async def _client_left(self, reader: asyncio.StreamReader, delay: float) -> bool:
        """Wait `delay` seconds or until released; True as soon as the client closes."""
        left = asyncio.ensure_future(reader.read(1))
        opened = asyncio.ensure_future(self.gate.wait())
        try:
            done, _ = await asyncio.wait(
                {left, opened}, timeout=delay, return_when="FIRST_COMPLETED"
            )
            return left in done and left.result() == b""
        finally:
            left.cancel()
            opened.cancel()


@contextlib.asynccontextmanager
async def running_peer() -> AsyncIterator[HttpPeer]:
    """An HttpPeer listening for the duration of the block."""
    peer = HttpPeer()
    await peer.start()
    try:
        yield peer
    finally:
        await peer.stop()


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def refused_url() -> str:
    """A URL on 127.0.0.1 where nothing listens."""
    return f"http://127.0.0.1:{free_port()}/"
