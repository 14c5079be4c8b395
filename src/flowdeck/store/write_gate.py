"""Taking SQLite's write lock without blocking the event loop.

A writer's `BEGIN IMMEDIATE` waits for the database's write lock inside SQLite, on the calling
thread: with the API and a worker in different processes, the API's event loop would stop
(and every request with it) for as long as the worker commits, plus SQLite's busy-handler
sleeps (1, 2, 5, 10… ms). So Flowdeck's processes first take an advisory lock on a file beside
the database: at once when it is free, else by waiting for it in a thread, which the kernel
wakes the moment it is released. `BEGIN IMMEDIATE` then finds the database free. Other writers
(the CLI, migrations) still meet SQLite's own busy timeout.
"""

from __future__ import annotations

import asyncio
import fcntl
import os


class WriteGate:
    """An exclusive lock shared by the processes writing one SQLite database."""

    def __init__(self, path: str) -> None:
        self._path = path
        self._fd: int | None = None

    def _file(self) -> int:
        if self._fd is None:
            self._fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o600)
        return self._fd

    async def acquire(self) -> None:
        """Hold the lock (this process's writers are serialised already)."""
        fd = self._file()
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            pass
        waiting = asyncio.ensure_future(asyncio.to_thread(fcntl.flock, fd, fcntl.LOCK_EX))
        try:
            await asyncio.shield(waiting)
        except asyncio.CancelledError:
            # The thread cannot be stopped: let it take the lock, then give it back.
            waiting.add_done_callback(lambda _: self.release())
            raise

    def release(self) -> None:
        """Let the next writer in."""
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)

    def close(self) -> None:
        """Close the lock file."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
