"""Test seams for the egress guard: a dual-stack loopback peer, a stand-in network, a resolver."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterable

import httpcore

from flowdeck.engine.egress import Resolver, resolve_host


class Loopback:
    """A peer on 127.0.0.1 and ::1 (one port) that answers 200 and counts connections."""

    def __init__(self) -> None:
        self.connections = 0
        self.port = 0
        self._servers: list[asyncio.Server] = []

    async def start(self) -> None:
        first = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = first.sockets[0].getsockname()[1]
        self._servers = [first, await asyncio.start_server(self._handle, "::1", self.port)]

    async def stop(self) -> None:
        for server in self._servers:
            server.close()
            await server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            await reader.readuntil(b"\r\n\r\n")
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
            await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


class Forwarding(httpcore.AsyncNetworkBackend):
    """Stands in for the network: records where it is asked to dial, connects to loopback."""

    def __init__(self, port: int) -> None:
        self.dialled: list[tuple[str, int]] = []
        self._port = port
        self._real = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's interface)
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        self.dialled.append((host, port))
        return await self._real.connect_tcp("127.0.0.1", self._port, timeout=timeout)

    async def sleep(self, seconds: float) -> None:
        await self._real.sleep(seconds)


def resolver(table: dict[str, list[list[str]]]) -> Resolver:
    """Names in `table` resolve to their answers in turn (the last one repeats)."""

    async def resolve(host: str, port: int) -> list[str]:
        if host not in table:
            return await resolve_host(host, port)
        answers = table[host]
        if not answers[0]:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return answers.pop(0) if len(answers) > 1 else answers[0]

    return resolve
