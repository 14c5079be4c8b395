"""What a hostile script tries, shared by the sandbox tests: it prints what it reached."""

from __future__ import annotations

import contextlib
import os
import socket
import stat
import sys
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

# Reads its targets from its environment, prints a JSON object: probe -> "allowed" or the error.
ESCAPE_PROBES = """
import json, os, socket

data_dir = os.environ["DATA_DIR"]
server = int(os.environ["SERVER_PID"])
ports = [int(p) for p in os.environ["PORTS"].split(",")]
unix_sockets = [p for p in os.environ.get("UNIX_SOCKETS", "").split(",") if p]
results = {}

def attempt(name, action):
    try:
        action()
        results[name] = "allowed"
    except Exception as exc:
        results[name] = type(exc).__name__

def read(path):
    with open(path, "rb") as fh:
        fh.read(1)

def write(path):
    with open(path, "w") as fh:
        fh.write("planted")

def connect(port):
    socket.create_connection(("127.0.0.1", port), timeout=3).close()

def connect_unix(path):
    with socket.socket(socket.AF_UNIX) as sock:
        sock.settimeout(3)
        sock.connect(path)

for name in ("admin.key", "secret.key", "flowdeck.db"):
    attempt(f"read {name}", lambda name=name: read(os.path.join(data_dir, name)))
attempt("list data dir", lambda: os.listdir(data_dir))
attempt("write data dir", lambda: write(os.path.join(data_dir, "planted")))
attempt("read server environ", lambda: read(f"/proc/{server}/environ"))
attempt("read server cmdline", lambda: read(f"/proc/{server}/cmdline"))
attempt("signal server", lambda: os.kill(server, 0))
for port in ports:
    attempt(f"connect 127.0.0.1:{port}", lambda port=port: connect(port))
for path in unix_sockets:
    attempt(f"connect {path}", lambda path=path: connect_unix(path))
print(json.dumps(results))
"""

# Starts a `setsid` child and a double-forked daemon, each a `sleep` with a marker duration.
ESCAPEES = """
setsid sleep {setsid_marker} &
( sh -c 'sleep {daemon_marker} &' & )
"""


# A local PostgreSQL's Unix socket (trust authentication for postgres, on test machines).
POSTGRES_SOCKET = Path("/var/run/postgresql/.s.PGSQL.5432")


def unix_sockets(*extra: Path) -> str:
    """The UNIX_SOCKETS probe value: `extra` and PostgreSQL's socket when there is one."""
    found = [*extra, *([POSTGRES_SOCKET] if POSTGRES_SOCKET.exists() else [])]
    return ",".join(map(str, found))


@contextlib.contextmanager
def listening_unix_socket() -> Iterator[Path]:
    """A Unix socket anyone may connect to, listening in the shared temp dir."""
    path = Path(tempfile.gettempdir()) / f"flowdeck-test-{uuid.uuid4().hex[:12]}.sock"
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(path))
        path.chmod(0o777)
        sock.listen(4)
        try:
            yield path
        finally:
            path.unlink(missing_ok=True)


def make_data_dir(root: Path) -> Path:
    """A data dir like the server's: key files and a database file, 0700/0600."""
    data = root / "data"
    data.mkdir(mode=0o700)
    for name in ("admin.key", "secret.key", "flowdeck.db"):
        path = data / name
        path.write_text(f"{name} content")
        path.chmod(0o600)
    return data


def _reachable_by(path: str, uid: int) -> bool:
    """Whether every directory above `path` lets `uid` through (others' x bit)."""
    current = Path(path).resolve()
    for directory in [*reversed(current.parents), current]:
        info = directory.stat()
        if info.st_uid != uid and not info.st_mode & stat.S_IXOTH:
            return False
    return True


def landlock_env(uid: int = 65534) -> dict[str, Any]:
    """Settings for a forced Landlock sandbox on this machine.

    As root, Landlock runs scripts as `uid` on the host's own file system, so the
    interpreter must be reachable by it; pyenv's under /root is not, the system one is.
    """
    env: dict[str, Any] = {"script_sandbox": "landlock"}
    if os.geteuid() == 0 and not _reachable_by(sys.base_prefix, uid):
        env["script_python"] = "/usr/bin/python3"
    return env
