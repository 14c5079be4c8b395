"""PostgreSQL LISTEN/NOTIFY as a transport between Flowdeck processes on one database.

Two dedicated autocommit connections per process, outside the pool: one LISTENs (psycopg holds
a connection's lock while it waits for notifications, so it can do nothing else), one sends.
Both reconnect with backoff when the server or the network drops them; TCP keepalives make a
silently dead peer surface as an error instead of an endless wait.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence

import psycopg
from psycopg.conninfo import make_conninfo

from flowdeck.store.dialect import sync_url

log = logging.getLogger("flowdeck.notify")

CHANNEL = "flowdeck"
_KEEPALIVE = {
    "keepalives": 1,
    "keepalives_idle": 10,
    "keepalives_interval": 5,
    "keepalives_count": 3,
}


def _conninfo(url: str) -> str:
    dsn = sync_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    return make_conninfo(dsn, connect_timeout=5, **_KEEPALIVE)


class PgNotifyTransport:
    """Send and receive payloads on one channel of a PostgreSQL database."""

    def __init__(self, url: str, *, channel: str = CHANNEL) -> None:
        self._conninfo = _conninfo(url)
        self.channel = channel
        self._sender: psycopg.AsyncConnection[tuple[object, ...]] | None = None
        self._send_lock = asyncio.Lock()

    async def _connect(self) -> psycopg.AsyncConnection[tuple[object, ...]]:
        return await psycopg.AsyncConnection.connect(self._conninfo, autocommit=True)

    async def send(self, payloads: Sequence[str]) -> None:
        """NOTIFY each payload; one reconnect is tried before the error goes to the caller."""
        async with self._send_lock:
            for attempt in (0, 1):
                try:
                    if self._sender is None or self._sender.closed:
                        self._sender = await self._connect()
                    async with self._sender.pipeline():
                        for payload in payloads:
                            await self._sender.execute(
                                "SELECT pg_notify(%s, %s)", (self.channel, payload)
                            )
                    return
                except (psycopg.OperationalError, OSError):
                    await self._drop_sender()
                    if attempt:
                        raise

    async def _drop_sender(self) -> None:
        sender, self._sender = self._sender, None
        if sender is not None:
            with contextlib.suppress(psycopg.Error, OSError):
                await sender.close()

    async def listen(
        self, on_payload: Callable[[str], None], on_state: Callable[[bool], None]
    ) -> None:
        """Deliver every payload to `on_payload` until cancelled, reconnecting as needed.

        `on_state(True)` runs after each (re)connection (notifications sent while the listener
        was away are lost, so the caller should look for work it may have missed) and
        `on_state(False)` when the connection is lost.
        """
        backoff = 0.2
        while True:
            try:
                async with await self._connect() as conn:
                    await conn.execute(f'LISTEN "{self.channel}"')
                    backoff = 0.2
                    on_state(True)
                    async for note in conn.notifies():
                        on_payload(note.payload)
            except (psycopg.OperationalError, OSError) as exc:
                on_state(False)
                log.warning("lost the LISTEN connection (%s); reconnecting in %.1fs", exc, backoff)
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 5.0)

    async def close(self) -> None:
        """Close the sending connection (the listener ends when its task is cancelled)."""
        async with self._send_lock:
            await self._drop_sender()
