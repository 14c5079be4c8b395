"""Signals between the processes of one machine sharing a SQLite database.

PostgreSQL carries signals with LISTEN/NOTIFY; SQLite has no such thing, but its processes
share a machine. Each process binds a Unix datagram socket in a directory that belongs to the
database (named by a hash of its path, mode 0700) and sends every payload to each other socket
there. A socket whose process is gone refuses the datagram and is removed. Like every signal,
a lost datagram only costs a fallback poll.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import socket
import tempfile
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path

log = logging.getLogger("flowdeck.signals")


def signal_dir(database_path: str) -> Path:
    """Where the processes of the database at `database_path` meet (short: socket paths are
    limited to 108 bytes)."""
    key = hashlib.sha256(os.path.realpath(database_path).encode()).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / f"flowdeck-{os.getuid()}-{key}"


class LocalSignalTransport:
    """Send and receive payloads among the processes of one SQLite database."""

    def __init__(self, database_path: str) -> None:
        self.directory = signal_dir(database_path)
        self._path = self.directory / f"{os.getpid()}-{uuid.uuid4().hex[:8]}.sock"
        self._sender: socket.socket | None = None

    def _peers(self) -> list[Path]:
        try:
            return [p for p in self.directory.iterdir() if p.suffix == ".sock" and p != self._path]
        except FileNotFoundError:
            return []

    async def send(self, payloads: Sequence[str]) -> None:
        """Send each payload to every other process (never blocks: a full peer misses it)."""
        if self._sender is None:
            self._sender = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            self._sender.setblocking(False)
        for peer in self._peers():
            for payload in payloads:
                try:
                    self._sender.sendto(payload.encode(), str(peer))
                except (ConnectionRefusedError, FileNotFoundError):
                    with contextlib.suppress(OSError):
                        peer.unlink()  # its process is gone
                    break
                except (BlockingIOError, OSError):
                    break  # its queue is full: it will poll

    async def listen(
        self, on_payload: Callable[[str], None], on_state: Callable[[bool], None]
    ) -> None:
        """Deliver every payload to `on_payload` until cancelled."""
        self.directory.mkdir(mode=0o700, exist_ok=True)
        receiver = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        receiver.setblocking(False)
        receiver.bind(str(self._path))
        loop = asyncio.get_running_loop()

        def readable() -> None:
            while True:
                try:
                    data = receiver.recv(65536)
                except (BlockingIOError, InterruptedError):
                    return
                on_payload(data.decode(errors="replace"))

        loop.add_reader(receiver.fileno(), readable)
        try:
            on_state(True)
            await asyncio.Event().wait()
        finally:
            loop.remove_reader(receiver.fileno())
            receiver.close()
            with contextlib.suppress(OSError):
                self._path.unlink()

    async def close(self) -> None:
        """Close the sending socket (the listener ends when its task is cancelled)."""
        if self._sender is not None:
            self._sender.close()
            self._sender = None
