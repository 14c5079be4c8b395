"""Cross-process wake-ups: what one process committed, told to every other process.

A process that commits work (ready steps, a run to admit, a new timer), grows a run's event log,
cancels a run or changes secrets publishes a small signal; every other process on the database
receives it and wakes its worker, its SSE readers, its in-flight cancellations or its secret
cache. Signals only shorten waits: a lost one costs a fallback poll, never correctness, so
publishing is fire-and-forget and coalesced (one message per burst of commits).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from flowdeck.domain.ids import new_id

log = logging.getLogger("flowdeck.signals")

MAX_PAYLOAD = 7900  # PostgreSQL refuses NOTIFY payloads of 8000 bytes or more


class SignalTransport(Protocol):
    """Carries opaque payloads between processes (PostgreSQL LISTEN/NOTIFY)."""

    async def send(self, payloads: Sequence[str]) -> None:
        """Deliver the payloads to every listener, or raise."""
        ...

    async def listen(
        self, on_payload: Callable[[str], None], on_state: Callable[[bool], None]
    ) -> None:
        """Receive payloads until cancelled; `on_state` hears each (re)connection and loss."""
        ...

    async def close(self) -> None:
        """Release the transport's connections."""
        ...


@dataclass
class Signal:
    """What other processes did: wake for work, runs whose logs grew, cancellations, secrets."""

    work: bool = False
    runs: set[str] = field(default_factory=set)
    cancelled: set[str] = field(default_factory=set)
    secrets: set[str] = field(default_factory=set)
    # The listener (re)connected: anything sent meanwhile was lost, so look at everything.
    resync: bool = False

    def merge(self, other: Signal) -> None:
        """Fold another signal into this one."""
        self.work |= other.work
        self.runs |= other.runs
        self.cancelled |= other.cancelled
        self.secrets |= other.secrets

    def __bool__(self) -> bool:
        return self.work or bool(self.runs or self.cancelled or self.secrets)


_KEYS = (("runs", "r"), ("cancelled", "c"), ("secrets", "s"))


def encode(origin: str, signal: Signal, limit: int = MAX_PAYLOAD) -> list[str]:
    """JSON payloads under `limit` bytes carrying the signal (ids split across several)."""
    payloads: list[str] = []
    current: dict[str, Any] = {"o": origin}
    if signal.work:
        current["w"] = 1
    size = len(json.dumps(current))
    for attr, key in _KEYS:
        for item in sorted(getattr(signal, attr)):
            cost = len(item) + 4 + (len(key) + 5 if key not in current else 0)
            if size + cost > limit and len(current) > 1:
                payloads.append(json.dumps(current, separators=(",", ":")))
                current, size = {"o": origin}, len(json.dumps({"o": origin}))
                cost = len(item) + 4 + len(key) + 5
            current.setdefault(key, []).append(item)
            size += cost
    if len(current) > 1:
        payloads.append(json.dumps(current, separators=(",", ":")))
    return payloads


def decode(payload: str) -> tuple[str, Signal] | None:
    """The origin and signal of a payload; None for one this version cannot read."""
    try:
        data = json.loads(payload)
        return str(data["o"]), Signal(
            work=bool(data.get("w")),
            runs=set(data.get("r", ())),
            cancelled=set(data.get("c", ())),
            secrets=set(data.get("s", ())),
        )
    except (ValueError, KeyError, TypeError):
        return None


class Signals:
    """Publishes this process's signals and hands other processes' signals to `on_signal`."""

    def __init__(self, transport: SignalTransport) -> None:
        self.transport = transport
        self.origin = new_id("p")
        self.connected = False
        self._pending = Signal()
        self._has_pending = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._handlers: list[Callable[[Signal], None]] = []

    def subscribe(self, handler: Callable[[Signal], None]) -> None:
        """Call `handler` with every signal from another process."""
        self._handlers.append(handler)

    def publish(
        self,
        *,
        work: bool = False,
        runs: Iterable[str] = (),
        cancelled: Iterable[str] = (),
        secrets: Iterable[str] = (),
    ) -> None:
        """Queue a signal for the other processes (sent on the next turn of the loop)."""
        if not self._tasks:
            return  # not started: this process talks to nobody
        signal = Signal(work=work, runs=set(runs), cancelled=set(cancelled), secrets=set(secrets))
        if not signal:
            return
        self._pending.merge(signal)
        self._has_pending.set()

    async def start(self) -> None:
        """Start listening and publishing."""
        if self._tasks:
            return
        self._tasks = [
            asyncio.create_task(
                self.transport.listen(self._received, self._on_state), name="flowdeck-listen"
            ),
            asyncio.create_task(self._publish_loop(), name="flowdeck-notify"),
        ]

    async def close(self) -> None:
        """Send what is pending (best effort), then stop."""
        if self._pending:
            with contextlib.suppress(Exception):
                async with asyncio.timeout(2):
                    await self._send_pending()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        self.connected = False
        await self.transport.close()

    async def _publish_loop(self) -> None:
        backoff = 0.1
        while True:
            await self._has_pending.wait()
            try:
                await self._send_pending()
                backoff = 0.1
            except Exception as exc:  # the database is away: keep the signal, try again
                log.warning("could not publish a wake-up (%s); retrying in %.1fs", exc, backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)

    async def _send_pending(self) -> None:
        self._has_pending.clear()
        signal, self._pending = self._pending, Signal()
        try:
            await self.transport.send(encode(self.origin, signal))
        except BaseException:
            self._pending.merge(signal)
            self._has_pending.set()
            raise

    def _received(self, payload: str) -> None:
        decoded = decode(payload)
        if decoded is None:
            log.debug("ignoring an unreadable signal: %.80s", payload)
            return
        origin, signal = decoded
        if origin != self.origin:  # this process acted on its own commits already
            self._dispatch(signal)

    def _on_state(self, connected: bool) -> None:
        self.connected = connected
        if connected:
            self._dispatch(Signal(work=True, resync=True))

    def _dispatch(self, signal: Signal) -> None:
        for handler in self._handlers:
            try:
                handler(signal)
            except Exception:
                log.exception("a signal handler failed")
