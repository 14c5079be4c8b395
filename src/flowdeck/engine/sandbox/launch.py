"""The last step before a script starts: lower limits, drop to the sandbox user, exec.

Standard library only: inside bubblewrap this file runs as `python -I -S launch.py SPEC ARGV…`
with nothing else of Flowdeck present; the Landlock supervisor imports it.
"""

from __future__ import annotations

import ctypes
import json
import os
import resource
import signal
import sys
from typing import Any

_PR_SET_PDEATHSIG = 1
_PR_SET_CHILD_SUBREAPER = 36


def _prctl(option: int, value: int) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(option, ctypes.c_ulong(value), 0, 0, 0) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))


def die_with_parent(signum: int) -> None:
    """Get `signum` when the parent exits (the thread that forked us, to be exact)."""
    _prctl(_PR_SET_PDEATHSIG, signum)


def become_subreaper() -> None:
    """Orphaned descendants are re-parented to us, so none can leave our process tree."""
    _prctl(_PR_SET_CHILD_SUBREAPER, 1)


def apply_limits(limits: dict[str, int]) -> None:
    """Lower each `RLIMIT_*` to its value (soft and hard), never above the current hard limit."""
    for name, value in limits.items():
        which = getattr(resource, name)
        hard = value + 1 if name == "RLIMIT_CPU" else value  # SIGXCPU, then SIGKILL a second later
        _, ceiling = resource.getrlimit(which)
        if ceiling != resource.RLIM_INFINITY:
            value, hard = min(value, ceiling), min(hard, ceiling)
        resource.setrlimit(which, (value, hard))


def become(uid: int, gid: int) -> None:
    """Drop every privilege for good: no supplementary groups, real = effective = saved ids."""
    os.setgroups([])
    os.setresgid(gid, gid, gid)
    os.setresuid(uid, uid, uid)
    if os.getuid() != uid or os.geteuid() != uid or os.getresgid() != (gid, gid, gid):
        raise OSError(f"could not switch to uid {uid}")


def restore_signals() -> None:
    """Undo what Python ignores at start (an exec'd script would inherit it): SIGPIPE ends
    `yes | head`, SIGXFSZ ends a process that writes past the file-size cap."""
    for signum in (signal.SIGPIPE, signal.SIGXFSZ):
        signal.signal(signum, signal.SIG_DFL)


def prepare(spec: dict[str, Any]) -> None:
    """Apply a launch spec: signals, `limits`, then the optional `uid`/`gid` to become."""
    restore_signals()
    apply_limits(spec.get("limits", {}))
    if spec.get("uid") is not None:
        become(int(spec["uid"]), int(spec["gid"]))


def main(argv: list[str]) -> None:
    """`launch.py SPEC PROGRAM ARGS…`: prepare per SPEC (JSON), then exec PROGRAM."""
    spec = json.loads(argv[1])
    try:
        prepare(spec)
        os.execv(argv[2], argv[2:])
    except OSError as exc:
        sys.stderr.write(f"flowdeck sandbox: cannot start the script: {exc}\n")
        os._exit(126)


if __name__ == "__main__":
    main(sys.argv)
