"""`flowdeck serve`'s socket and uvicorn server: the port is bound before anything starts, and
"listening" is said only once the server accepts connections."""

from __future__ import annotations

import errno
import socket
from collections.abc import Callable
from typing import Any

import uvicorn

from flowdeck.config import Settings


class PortUnavailable(Exception):
    """The address cannot be bound; the message is one line for the operator."""


def bind(host: str, port: int) -> socket.socket:
    """A listening-ready socket bound to host:port, or PortUnavailable saying why not."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise PortUnavailable(f"Cannot listen on {host}:{port}: unknown host ({exc})") from exc
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise PortUnavailable(
                f"Cannot listen on {host}:{port}: address already in use (another Flowdeck or "
                "another program holds it; choose another with --port or FLOWDECK_PORT)"
            ) from exc
        raise PortUnavailable(f"Cannot listen on {host}:{port}: {exc.strerror}") from exc
    sock.set_inheritable(False)  # the worker process must not hold the port
    return sock


class _AnnouncingServer(uvicorn.Server):
    """A uvicorn server that calls `on_started` once it accepts connections."""

    def __init__(self, config: uvicorn.Config, on_started: Callable[[], None]) -> None:
        super().__init__(config)
        self.on_started = on_started

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        if not self.should_exit:
            self.on_started()


def serve_on(
    sock: socket.socket,
    app: Any,
    settings: Settings,
    log_config: dict[str, Any],
    on_started: Callable[[], None],
) -> None:
    """Serve `app` on the bound socket until a signal stops it."""
    config = uvicorn.Config(
        app,
        log_level=settings.log_level.lower(),
        log_config=log_config,
        access_log=False,  # RequestObserver logs requests (FLOWDECK_ACCESS_LOG)
        # The app reads X-Forwarded-For itself, and only from FLOWDECK_TRUSTED_PROXIES.
        proxy_headers=False,
    )
    _AnnouncingServer(config, on_started).run(sockets=[sock])
