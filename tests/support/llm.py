"""A local OpenAI-compatible Chat Completions server that records what it is sent.

It speaks the protocol over real HTTP (`POST /v1/chat/completions`, `GET /v1/models`), so
the agent_task step is tested through its real client, not a patched one.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Scripted:
    """One scripted answer: a reply text, or an HTTP error."""

    content: str | None = None
    status: int = 200
    error: str = "scripted failure"
    delay: float = 0.0
    usage: bool = True


@dataclass
class ChatRequest:
    """One chat request as the server received it."""

    headers: dict[str, str]
    body: dict[str, Any]

    @property
    def messages(self) -> list[dict[str, Any]]:
        return list(self.body.get("messages", []))

    def content(self, role: str) -> str:
        """The text of the last message with `role`."""
        return next(m["content"] for m in reversed(self.messages) if m["role"] == role)


@dataclass
class FakeLLM:
    """The server: scripted answers first, then an echo of the user message."""

    api_key: str | None = None
    script: list[Scripted] = field(default_factory=list)
    requests: list[ChatRequest] = field(default_factory=list)
    port: int = 0
    received: asyncio.Event = field(default_factory=asyncio.Event)
    disconnected: asyncio.Event = field(default_factory=asyncio.Event)
    _server: asyncio.Server | None = None
    _tasks: set[asyncio.Task[Any]] = field(default_factory=set)

    def url(self, path: str = "/v1") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def then(self, *answers: Scripted | str) -> None:
        """Answer the next requests with these, in order."""
        self.script.extend(a if isinstance(a, Scripted) else Scripted(a) for a in answers)

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.wait(self._tasks)
        if self._server is not None:
            await self._server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            await self._serve(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            self.disconnected.set()
        finally:
            self._tasks.discard(task)
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        line = await reader.readline()
        if not line:
            return
        method, path, _ = line.decode("latin-1").split(" ", 2)
        headers: dict[str, str] = {}
        while (raw := await reader.readline()) not in (b"\r\n", b"\n", b""):
            name, _, value = raw.decode("latin-1").partition(":")
            headers[name.strip().lower()] = value.strip()
        length = int(headers.get("content-length", "0"))
        body = await reader.readexactly(length) if length else b""
        if method == "GET" and path == "/v1/models":
            await _send(writer, 200, {"object": "list", "data": [{"id": "fake-model"}]})
            return
        if method != "POST" or path != "/v1/chat/completions":
            await _send(writer, 404, {"error": {"message": f"no route {method} {path}"}})
            return
        if self.api_key and headers.get("authorization") != f"Bearer {self.api_key}":
            await _send(writer, 401, {"error": {"message": "Incorrect API key provided"}})
            return
        request = ChatRequest(headers, json.loads(body))
        self.requests.append(request)
        self.received.set()
        answer = self.script.pop(0) if self.script else Scripted()
        if answer.delay:
            try:
                async with asyncio.timeout(answer.delay):
                    if await reader.read(1) == b"":  # the client went away
                        self.disconnected.set()
                        return
            except TimeoutError:
                pass
        if answer.status != 200:
            await _send(writer, answer.status, {"error": {"message": answer.error}})
            return
        text = answer.content
        if text is None:
            text = "echo: " + request.content("user")
        prompt = " ".join(str(m.get("content", "")) for m in request.messages)
        reply: dict[str, Any] = {
            "id": f"chatcmpl-{len(self.requests)}",
            "object": "chat.completion",
            "model": request.body.get("model"),
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": text},
                    "finish_reason": "stop",
                }
            ],
        }
        if answer.usage:
            reply["usage"] = {
                "prompt_tokens": len(prompt.split()),
                "completion_tokens": len(text.split()),
                "total_tokens": len(prompt.split()) + len(text.split()),
            }
        await _send(writer, 200, reply)


async def _send(writer: asyncio.StreamWriter, status: int, body: Any) -> None:
    data = json.dumps(body).encode()
    head = [
        f"HTTP/1.1 {status} X",
        "Content-Type: application/json",
        f"Content-Length: {len(data)}",
        "Connection: close",
    ]
    writer.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + data)
    await writer.drain()


@contextlib.asynccontextmanager
async def fake_llm(api_key: str | None = None) -> AsyncIterator[FakeLLM]:
    """A FakeLLM listening on 127.0.0.1 for the duration of the block."""
    server = FakeLLM(api_key=api_key)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()
