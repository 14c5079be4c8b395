"""The Landlock supervisor: `python -I -m flowdeck.engine.sandbox.supervisor SPEC ARGV…`.

Forks the script confined (limits, Landlock, the unprivileged uid) and stays outside its
domain as the subreaper of its tree. When the script exits, or the server sends SIGTERM, or
the server dies (parent-death signal), it kills every descendant, reaps them, and exits as
the script did (the same exit code, or the same signal).
"""

from __future__ import annotations

import contextlib
import errno
import functools
import json
import operator
import os
import signal
import socket
import sys
from types import FrameType
from typing import Any, NoReturn

import pyseccomp as seccomp
from py_landlock import AccessFs, Landlock

from flowdeck.engine.sandbox import launch
from flowdeck.engine.sandbox.tree import descendants

_STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)


class _Stop(Exception):
    """The server asked us to end the script (or died)."""


def _on_stop(signum: int, frame: FrameType | None) -> None:
    raise _Stop


def _processes_of(uid: int) -> int:
    """Tasks (threads count for RLIMIT_NPROC) this uid runs now."""
    count = 0
    for name in os.listdir("/proc"):
        if name.isdigit():
            with contextlib.suppress(OSError):
                if os.stat(f"/proc/{name}").st_uid == uid:
                    count += len(os.listdir(f"/proc/{name}/task"))
    return count


def _confine(spec: dict[str, Any]) -> None:
    """Landlock: read-only runtime paths, the temp dir, devices; maybe no TCP. Then seccomp.

    Both are built before either applies: once Landlock is on, no library can be loaded.
    """
    sockets = _socket_filter(network=spec["network"])
    read = AccessFs.READ_FILE | AccessFs.EXECUTE
    everything = functools.reduce(operator.or_, AccessFs)
    ruleset = Landlock(strict=False)
    if spec["read_dirs"]:
        ruleset.add_path_rule(*spec["read_dirs"], access=read | AccessFs.READ_DIR)
    if spec["read_files"]:
        ruleset.add_path_rule(*spec["read_files"], access=read)
    if spec["devices"]:
        devices = AccessFs.READ_FILE | AccessFs.WRITE_FILE | AccessFs.TRUNCATE
        ruleset.add_path_rule(*spec["devices"], access=devices)
    ruleset.add_path_rule(*spec["write"], access=everything)
    if spec["network"]:
        ruleset.allow_all_network()
    ruleset.apply()
    sockets.load()


def _socket_filter(*, network: bool) -> Any:
    """seccomp: Landlock filters neither UDP nor pathname Unix sockets (a local database's
    socket among them), so without network no socket can be made at all, and with it no
    Unix socket; socketpair() stays. io_uring could make sockets behind the filter's back."""
    rules = seccomp.SyscallFilter(defaction=seccomp.ALLOW)
    refuse = seccomp.ERRNO(errno.EACCES)
    if network:
        rules.add_rule(refuse, "socket", seccomp.Arg(0, seccomp.EQ, socket.AF_UNIX))
    else:
        rules.add_rule(refuse, "socket")
    rules.add_rule(seccomp.ERRNO(errno.EPERM), "io_uring_setup")
    return rules


def _exec_script(spec: dict[str, Any], argv: list[str]) -> NoReturn:
    """In the forked child: limits, Landlock, the unprivileged uid, then the script."""
    try:
        for signum in _STOP_SIGNALS:
            signal.signal(signum, signal.SIG_DFL)
        launch.restore_signals()
        limits = dict(spec["limits"])
        if spec["max_processes"] > 0:
            # Counted per real uid: as root the script's own uid, else shared with this user.
            base = 0 if spec["uid"] is not None else _processes_of(os.getuid())
            limits["RLIMIT_NPROC"] = base + spec["max_processes"]
        launch.apply_limits(limits)
        _confine(spec)  # while still root: the rules open their paths now
        if spec["uid"] is not None:
            launch.become(spec["uid"], spec["gid"])
        os.execv(argv[0], argv)
    except BaseException as exc:
        sys.stderr.write(f"flowdeck sandbox: cannot start the script: {exc}\n")
        sys.stderr.flush()
    os._exit(126)


def _end_tree() -> None:
    """Kill every descendant (orphans come back to us) and reap them all."""
    for signum in _STOP_SIGNALS:
        signal.signal(signum, signal.SIG_IGN)
    while True:
        for pid in descendants(os.getpid()):
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        try:
            os.waitpid(-1, 0)
        except ChildProcessError:
            return


def _wait_for(child: int) -> int | None:
    """The script's wait status, reaping orphans meanwhile; None if we were told to stop."""
    try:
        while True:
            pid, status = os.waitpid(-1, 0)
            if pid == child:
                return status
    except _Stop:
        return None


def _exit_like(status: int | None) -> NoReturn:
    if status is None:
        os._exit(128 + signal.SIGTERM)
    if os.WIFSIGNALED(status):
        signum = os.WTERMSIG(status)
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)
        os._exit(128 + signum)  # a signal whose default is to be ignored
    os._exit(os.waitstatus_to_exitcode(status))


def main(argv: list[str]) -> NoReturn:
    """Supervise one script; see the module docstring."""
    spec = json.loads(argv[1])
    launch.apply_limits({"RLIMIT_CORE": 0})
    for signum in _STOP_SIGNALS:
        signal.signal(signum, _on_stop)
    status: int | None = None
    try:
        launch.become_subreaper()
        launch.die_with_parent(signal.SIGTERM)
        if os.getppid() != spec["parent"]:
            os._exit(128 + signal.SIGTERM)  # the server died before we could notice
        child = os.fork()
        if child == 0:
            _exec_script(spec, argv[2:])
        status = _wait_for(child)
    except _Stop:
        status = None
    while True:
        try:
            _end_tree()
            break
        except _Stop:  # a second request before the handlers were switched off
            continue
    _exit_like(status)


if __name__ == "__main__":
    main(sys.argv)
