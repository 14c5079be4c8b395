"""A script's process tree as /proc shows it: find it, measure it, end it."""

from __future__ import annotations

import contextlib
import os
import signal
from collections import defaultdict
from pathlib import Path

_PAGE = os.sysconf("SC_PAGE_SIZE")
# Killing a tree is repeated until it is empty; a capped tree empties in a few rounds.
_KILL_ROUNDS = 50


def _children_by_parent() -> dict[int, list[int]]:
    """Every live process's children, from one pass over /proc (zombies are already dead)."""
    children: dict[int, list[int]] = defaultdict(list)
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as fh:
                stat = fh.read()
        except OSError:
            continue
        fields = stat.rsplit(b")", 1)[1].split()
        if fields[0] not in (b"Z", b"X"):
            children[int(fields[1])].append(int(name))
    return children


def descendants(root: int) -> list[int]:
    """Every live descendant of `root` (not `root` itself), parents before children."""
    children = _children_by_parent()
    found: list[int] = []
    queue = list(children.get(root, ()))
    while queue:
        pid = queue.pop()
        found.append(pid)
        queue.extend(children.get(pid, ()))
    return found


def private_memory(pids: list[int]) -> int:
    """Bytes of memory the processes hold privately (resident minus shared file pages)."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/statm").read_text().split()
        except OSError:
            continue
        total += max(int(fields[1]) - int(fields[2]), 0) * _PAGE
    return total


def kill_tree(root: int) -> None:
    """SIGKILL every descendant of `root` until none is left, then `root` itself.

    `root` stays alive until its tree is empty: as the sandbox's reaper (bubblewrap's
    init, the Landlock supervisor) it keeps orphans inside the tree where this finds them.
    """
    for _ in range(_KILL_ROUNDS):
        found = descendants(root)
        if not found:
            break
        for pid in found:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(root, signal.SIGKILL)


def disk_usage(path: str, cap: int) -> int:
    """Bytes under `path`, counting stops once past `cap` (a tree of files can be huge)."""
    total = 0
    stack = [path]
    while stack and total <= cap:
        with contextlib.suppress(OSError), os.scandir(stack.pop()) as entries:
            for entry in entries:
                with contextlib.suppress(OSError):
                    info = entry.stat(follow_symlinks=False)
                    total += info.st_blocks * 512
                    if entry.is_dir(follow_symlinks=False):
                        stack.append(entry.path)
    return total
