"""`flowdeck serve`'s worker in a process of its own.

The API and the engine then share no event loop (a request never waits behind an engine
commit) and use both cores. The child is `flowdeck worker` on the same database, with the same
settings (inherited environment, plus the options `serve` was given); the two wake each other
through the database's signals. It dies with its parent (PR_SET_PDEATHSIG), is restarted with
backoff if it exits on its own, and is drained with SIGTERM when the server stops.
"""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time

from flowdeck.config import Settings

log = logging.getLogger("flowdeck.cli")
_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:  # runs in the child between fork and exec
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def worker_command(settings: Settings) -> list[str]:
    """The command line of the worker process for these settings."""
    return [
        sys.executable,
        "-m",
        "flowdeck",
        "worker",
        "--data-dir",
        str(settings.data_dir),
        "--database-url",
        settings.resolved_database_url,
        "--log-level",
        settings.log_level,
        "--log-format",
        settings.log_format,
    ]


def free_loopback_port() -> int:
    """A TCP port on 127.0.0.1 that is free now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def keep_signals_for_the_drain() -> None:
    """Let SIGTERM/SIGINT end the server without ending this process at once.

    uvicorn handles both while it serves, then raises the signal again with the handler that
    was installed before it: the default one would kill the process there, before it could
    drain its worker. With these, `uvicorn.run` returns and the worker is stopped properly.
    """
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: None)


class WorkerProcess:
    """Starts, watches and stops the server's worker process."""

    def __init__(self, settings: Settings, *, metrics_port: int | None = None) -> None:
        self.settings = settings
        # Where the child serves its metrics, on loopback, for the server's /metrics to add in
        # (an operator's FLOWDECK_METRICS_PORT keeps FLOWDECK_HOST, as `flowdeck worker` does).
        self.metrics_port = metrics_port or settings.metrics_port or free_loopback_port()
        self.metrics_host = settings.host if settings.metrics_port else "127.0.0.1"
        self._proc: subprocess.Popen[bytes] | None = None
        self._stopping = threading.Event()
        self._watcher: threading.Thread | None = None

    def start(self) -> None:
        """Start the worker, and a thread that restarts it if it dies."""
        self._spawn()
        self._watcher = threading.Thread(target=self._watch, name="flowdeck-worker", daemon=True)
        self._watcher.start()

    def _spawn(self) -> None:
        preexec = _die_with_parent if sys.platform == "linux" else None
        command = [*worker_command(self.settings), "--metrics-port", str(self.metrics_port)]
        env = {**os.environ, "FLOWDECK_HOST": self.metrics_host}
        self._proc = subprocess.Popen(command, preexec_fn=preexec, env=env)

    @property
    def metrics_url(self) -> str:
        """Where the server reads the worker's metrics."""
        host = "127.0.0.1" if self.metrics_host in ("0.0.0.0", "::", "") else self.metrics_host
        return f"http://{host}:{self.metrics_port}/metrics"

    def _watch(self) -> None:
        backoff = 1.0
        while not self._stopping.is_set():
            assert self._proc is not None
            code = self._proc.wait()
            if self._stopping.is_set():
                return
            log.error("the worker process exited (%s); restarting it in %.0fs", code, backoff)
            if self._stopping.wait(backoff):
                return
            backoff = min(backoff * 2, 30.0)
            started = time.monotonic()
            self._spawn()
            if time.monotonic() - started > 60:
                backoff = 1.0

    def stop(self) -> None:
        """Drain the worker (SIGTERM: it finishes or hands back its steps), then reap it."""
        self._stopping.set()
        proc = self._proc
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=self.settings.shutdown_grace_seconds + 20)
        except subprocess.TimeoutExpired:
            log.error("the worker process did not stop in time; killing it")
            proc.kill()
            proc.wait()

    @property
    def pid(self) -> int | None:
        """The worker process's pid, while it runs."""
        return self._proc.pid if self._proc is not None else None
