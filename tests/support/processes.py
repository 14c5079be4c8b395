"""Looking at processes a test started."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path


def is_alive(pid: int) -> bool:
    """Whether `pid` is a running process (a zombie awaiting its reaper counts as gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return False  # gone before, or while, its stat was read (ESRCH mid-read)
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


def exit_of(pid: int) -> asyncio.Future[None]:
    """Done when process `pid` (alive now) exits: its pidfd turns readable then, so nothing
    polls."""
    fd = os.pidfd_open(pid)
    loop = asyncio.get_running_loop()
    gone: asyncio.Future[None] = loop.create_future()

    def exited() -> None:
        loop.remove_reader(fd)
        os.close(fd)
        if not gone.done():
            gone.set_result(None)

    loop.add_reader(fd, exited)
    return gone
