"""Landlock: the fallback where user namespaces are not allowed (Linux >= 5.13, unprivileged).

Each script runs under a supervisor process (`supervisor.py`, outside the Landlock domain): it
is the subreaper of the script's tree, so no descendant can leave it, and it kills the whole
tree when the script ends, when the server kills it, and when the server dies. The script
itself may only read the interpreter and system runtime paths and write its temp dir; with
ABI >= 4 it cannot open TCP connections (network off), with ABI >= 6 it cannot signal or
reach abstract sockets outside its domain. Landlock filters neither UDP nor pathname Unix
sockets (a local PostgreSQL's socket is one), so a seccomp filter refuses socket() itself:
every domain without network, Unix sockets with it.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from flowdeck.engine.sandbox.launcher import Launch
from flowdeck.engine.sandbox.policy import SandboxPolicy, ScriptJob, script_argv, script_env
from flowdeck.engine.sandbox.workdir import make_workdir

# Signal and abstract-socket scoping arrived in ABI 6 (Linux 6.12).
SCOPE_ABI = 6
_SYSTEM_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
_ETC = (
    "ld.so.cache",
    "ld.so.conf",
    "ld.so.conf.d",
    "localtime",
    "alternatives",
    "nsswitch.conf",
    "passwd",
    "group",
    "hosts",
    "host.conf",
    "resolv.conf",
    "gai.conf",
    "ssl/certs",
    "ssl/openssl.cnf",
    "ca-certificates.conf",
    "mime.types",
)
_DEVICES = ("/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom")


class LandlockUnavailable(Exception):
    """Landlock cannot confine scripts here; the message says why."""


def landlock_abi() -> int:
    """The kernel's Landlock ABI version; raises LandlockUnavailable when it has none."""
    try:
        from py_landlock import LandlockError, get_abi_version
    except ImportError:  # not Linux
        raise LandlockUnavailable("py-landlock is not installed") from None

    try:
        return int(get_abi_version())
    except (LandlockError, OSError) as exc:
        raise LandlockUnavailable(f"the kernel offers no Landlock ({exc})") from None


def check_abi(abi: int, policy: SandboxPolicy) -> None:
    """Refuse an ABI too old to keep the promises this policy makes."""
    if not policy.as_root and abi < SCOPE_ABI:
        # As root, scripts run as another uid, which may not signal the server anyway.
        raise LandlockUnavailable(
            f"Landlock ABI {abi} cannot stop scripts signalling the server (needs ABI"
            f" {SCOPE_ABI}, Linux 6.12, or a server running as root)"
        )


class LandlockBackend:
    """Runs every script under a supervisor, confined by a Landlock ruleset."""

    name = "landlock"

    def __init__(self, policy: SandboxPolicy, abi: int, runtime_dirs: list[str]) -> None:
        self.policy = policy
        self.abi = abi
        self.root = policy.as_root
        self._read = _existing([*runtime_dirs, *_SYSTEM_DIRS, *(f"/etc/{n}" for n in _ETC)])
        self._devices = _existing(_DEVICES)

    def describe(self) -> str:
        """One line for the start-up log."""
        net = "host network allowed" if self.policy.network else "no network"
        who = f"as uid {self.policy.uid}" if self.root else "as this user"
        return f"landlock (ABI {self.abi}): files confined, {net}, {who}"

    def prepare(self, job: ScriptJob) -> Launch:
        """The supervisor command line for `job`, with a fresh host temp dir."""
        uid = self.policy.uid if self.root else None
        workdir, script = make_workdir(job, uid)
        limits = self.policy.limits
        spec = {
            "parent": os.getpid(),
            "limits": limits.rlimits(),
            "max_processes": limits.max_processes,
            "uid": uid,
            "gid": uid,
            "read_dirs": [p for p in self._read if os.path.isdir(p)],
            "read_files": [p for p in self._read if not os.path.isdir(p)],
            "devices": self._devices,
            "write": [workdir],
            "network": self.policy.network,
        }
        supervisor = [sys.executable, "-I", "-m", "flowdeck.engine.sandbox.supervisor"]
        return Launch(
            argv=[*supervisor, json.dumps(spec), *script_argv(self.policy, job.language, script)],
            env=script_env(workdir, job.env),
            cwd=workdir,
            workdir=workdir,
        )


def _existing(paths: list[str] | tuple[str, ...]) -> list[str]:
    seen: list[str] = []
    for path in paths:
        if Path(path).exists() and path not in seen:
            seen.append(path)
    return seen
