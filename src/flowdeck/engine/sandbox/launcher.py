"""What a backend hands the runner: how to start one script, and what to undo afterwards."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Protocol

from flowdeck.engine.sandbox.policy import ScriptJob


@dataclass
class Launch:
    """One prepared script: the command, and the resources the runner must release."""

    argv: list[str]
    env: dict[str, str]
    cwd: str | None = None
    # Descriptors the child inherits; the parent closes them once the child has started.
    child_fds: tuple[int, ...] = ()
    # Descriptors the parent keeps until the script is over.
    parent_fds: tuple[int, ...] = ()
    preexec: Callable[[], None] | None = None
    # Run once the process exists (bubblewrap's uid maps are written here).
    after_spawn: Callable[[int], Awaitable[None]] | None = None
    # A host directory the script writes into: watched against the size cap, then removed.
    workdir: str | None = None
    # bubblewrap reports a signal death as 128 + signal; such codes are read back as signals.
    signal_exit_codes: bool = False
    _closed: set[int] = field(default_factory=set)

    def close_child_fds(self) -> None:
        """The child has its copies now (or never will)."""
        self._close(self.child_fds)

    def close(self) -> None:
        """Release every descriptor still open."""
        self._close(self.child_fds + self.parent_fds)

    def _close(self, fds: tuple[int, ...]) -> None:
        for fd in fds:
            if fd not in self._closed:
                self._closed.add(fd)
                with contextlib.suppress(OSError):
                    os.close(fd)


class Backend(Protocol):
    """A way to run scripts isolated from the server."""

    @property
    def name(self) -> str:
        """`bwrap`, `landlock` or `none`."""
        ...

    def describe(self) -> str:
        """One line for the start-up log: what scripts can and cannot reach."""
        ...

    def prepare(self, job: ScriptJob) -> Launch:
        """Everything needed to start `job` (may create a temp dir or descriptors)."""
        ...


def memfd_with(name: str, data: bytes) -> int:
    """An anonymous in-memory file holding `data`, positioned at its start."""
    fd = os.memfd_create(name)  # `pass_fds` hands it to the child
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.lseek(fd, 0, os.SEEK_SET)
    except OSError:
        os.close(fd)
        raise
    return fd
