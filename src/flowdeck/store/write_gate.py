"""Taking SQLite's write lock without blocking the event loop, fairly between processes.

A writer's `BEGIN IMMEDIATE` waits for the database's write lock inside SQLite, on the calling
thread: with the API and a worker in different processes, the API's event loop would stop
(and every request with it) for as long as the worker commits, plus SQLite's busy-handler
sleeps (1, 2, 5, 10… ms). So Flowdeck's processes first take an advisory lock on a file beside
the database (`-writer`): at once when it is free, else by waiting for it in a thread, which
the kernel wakes the moment it is released. `BEGIN IMMEDIATE` then finds the database free.
Other writers (the CLI, migrations) still meet SQLite's own busy timeout.

A lock alone is not fair: a process that releases it and asks again at once wins before the
woken waiter runs, so a busy worker could starve the API. So a writer that must wait says so
first, with a shared lock on a second file (`-waiting`), and a writer that finds anyone waiting
queues behind them instead of taking the lock: the two processes take turns.
"""

from __future__ import annotations

import asyncio
import fcntl
import os


def _try(fd: int, mode: int) -> bool:
    try:
        fcntl.flock(fd, mode | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


class WriteGate:
    """An exclusive lock shared, turn by turn, by the processes writing one SQLite database."""

    def __init__(self, path: str) -> None:
        self._paths = (path, path.removesuffix("-writer") + "-waiting")
        self._fds: tuple[int, int] | None = None

    def _files(self) -> tuple[int, int]:
        if self._fds is None:
            lock, waiting = (os.open(p, os.O_RDWR | os.O_CREAT, 0o600) for p in self._paths)
            self._fds = (lock, waiting)
        return self._fds

    def _nobody_waits(self, waiting: int) -> bool:
        if not _try(waiting, fcntl.LOCK_EX):
            return False  # another writer holds its place in line
        fcntl.flock(waiting, fcntl.LOCK_UN)
        return True

    async def acquire(self) -> None:
        """Hold the lock (this process's writers are serialised already)."""
        lock, waiting = self._files()
        if self._nobody_waits(waiting) and _try(lock, fcntl.LOCK_EX):
            return
        fcntl.flock(waiting, fcntl.LOCK_SH)  # in line: a writer that comes now waits behind us
        taking = asyncio.ensure_future(asyncio.to_thread(fcntl.flock, lock, fcntl.LOCK_EX))
        try:
            await asyncio.shield(taking)
        except asyncio.CancelledError:
            # The thread cannot be stopped: let it take the lock, then give it back.
            taking.add_done_callback(lambda _: self.release())
            raise
        finally:
            fcntl.flock(waiting, fcntl.LOCK_UN)

    def release(self) -> None:
        """Let the next writer in."""
        if self._fds is not None:
            fcntl.flock(self._fds[0], fcntl.LOCK_UN)

    def close(self) -> None:
        """Close the lock files."""
        if self._fds is not None:
            for fd in self._fds:
                os.close(fd)
            self._fds = None
