"""Start real `flowdeck` processes, and a local HTTP service for them to call."""

from __future__ import annotations

import collections
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.peer import free_port


def flowdeck_command() -> list[str]:
    """The installed console script, next to this interpreter."""
    script = Path(sys.executable).parent / "flowdeck"
    return [str(script)] if script.exists() else [sys.executable, "-m", "flowdeck"]


def _process_env(env: dict[str, str] | None) -> dict[str, str]:
    # The process sees only the settings a test gives it, never the developer's own.
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("FLOWDECK_")}
    full_env["FLOWDECK_HTTP_ALLOW"] = "127.0.0.1"  # the tests' peers, past the egress guard
    full_env.update(env or {})
    return full_env


@dataclass
class Process:
    """A running `flowdeck` process with its output going to a log file."""

    proc: subprocess.Popen[bytes]
    log: Path

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@dataclass
class Server(Process):
    """A running `flowdeck serve` process."""

    url: str
    data_dir: Path

    def wait_ready(self, timeout: float = 30) -> None:
        """Wait until /readyz answers 200; kill the process and raise if it does not."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"flowdeck serve exited early:\n{self.output()}")
            try:
                if httpx.get(f"{self.url}/readyz", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        self.stop(signal.SIGKILL)
        raise RuntimeError(f"flowdeck serve did not become ready:\n{self.output()}")


_WORKER_STARTED = re.compile(r"Flowdeck worker\s+(\S+)\s+running")


@dataclass
class WorkerProcess(Process):
    """A running `flowdeck worker` process; `worker_id` as it announced itself."""

    worker_id: str

    def wait_started(self, timeout: float = 30) -> None:
        """Wait until the worker announces its id; kill the process and raise if it does not."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = _WORKER_STARTED.search(self.output())
            if found:
                self.worker_id = found.group(1)
                return
            if self.proc.poll() is not None:
                raise RuntimeError(f"flowdeck worker exited early:\n{self.output()}")
            time.sleep(0.1)
        self.stop(signal.SIGKILL)
        raise RuntimeError(f"flowdeck worker did not start:\n{self.output()}")


def launch_server(
    data_dir: Path, database_url: str, *, env: dict[str, str] | None = None
) -> Server:
    """Start `flowdeck serve`; `wait_ready()` waits until it answers."""
    port = free_port()
    log = data_dir.parent / f"server-{port}.log"
    cmd = [
        *flowdeck_command(),
        "serve",
        "--port",
        str(port),
        "--data-dir",
        str(data_dir),
        "--database-url",
        database_url,
    ]
    with log.open("wb") as fh:
        proc = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, env=_process_env(env))
    return Server(proc=proc, url=f"http://127.0.0.1:{port}", data_dir=data_dir, log=log)


def start_server(data_dir: Path, database_url: str, *, env: dict[str, str] | None = None) -> Server:
    """Start `flowdeck serve` and wait until /readyz answers."""
    for _ in range(3):
        server = launch_server(data_dir, database_url, env=env)
        try:
            server.wait_ready()
            return server
        except RuntimeError:
            # Tests run in parallel: another one may have taken the free port first.
            if "address already in use" not in server.output():
                raise
    raise RuntimeError(f"no free port for flowdeck serve:\n{server.output()}")


def launch_worker(
    data_dir: Path, database_url: str, *, env: dict[str, str] | None = None
) -> WorkerProcess:
    """Start `flowdeck worker`; `wait_started()` waits until it announces its id."""
    log = data_dir.parent / f"worker-{data_dir.name}.log"
    cmd = [
        *flowdeck_command(),
        "worker",
        "--data-dir",
        str(data_dir),
        "--database-url",
        database_url,
    ]
    with log.open("wb") as fh:
        proc = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, env=_process_env(env))
    return WorkerProcess(proc=proc, log=log, worker_id="")


def start_worker(
    data_dir: Path, database_url: str, *, env: dict[str, str] | None = None
) -> WorkerProcess:
    """Start `flowdeck worker` and wait until it announces its id."""
    worker = launch_worker(data_dir, database_url, env=env)
    worker.wait_started()
    return worker


@pytest.fixture
def server(tmp_path: Path, database_url: str) -> Iterator[Server]:
    """A `flowdeck serve` process on the test database."""
    srv = start_server(tmp_path / "data", database_url)
    try:
        yield srv
    finally:
        srv.stop()


class _QuietHTTPServer(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        # A killed or cancelling client hangs up mid-request: expected here, not worth a trace.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class Target:
    """A slow local HTTP service counting GET requests per Idempotency-Key.

    `hold(keys)` makes requests for those keys wait, after the delay, until `release()`:
    a test can keep a chosen step in flight for as long as it needs. `freeze()` then drops the
    held keys with no request waiting yet, so that exactly the returned keys are held.
    """

    def __init__(self, delay: float = 0.4) -> None:
        self.hits: collections.Counter[str] = collections.Counter()
        self.cond = threading.Condition()
        self.in_flight: collections.Counter[str] = collections.Counter()
        self.held: set[str] = set()
        self.blocked: set[str] = set()
        target = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                key = self.headers.get("Idempotency-Key", "?")
                with target.cond:
                    target.hits[key] += 1
                    target.in_flight[key] += 1
                try:
                    time.sleep(delay)
                    with target.cond:
                        while key in target.held:
                            target.blocked.add(key)
                            target.cond.wait()
                        target.blocked.discard(key)
                finally:
                    with target.cond:
                        target.in_flight[key] -= 1
                body = b'{"ok": true}'
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

            def handle(self) -> None:
                try:
                    super().handle()
                finally:
                    self.connection.close()  # a killed client's sockets die mid-request

        self.server = _QuietHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def count(self, key: str) -> int:
        with self.cond:
            return self.hits[key]

    def snapshot(self) -> dict[str, int]:
        """Hits per key so far."""
        with self.cond:
            return dict(self.hits)

    def receiving(self) -> set[str]:
        """Keys with a request being answered now."""
        with self.cond:
            return {k for k, n in self.in_flight.items() if n > 0}

    def hold(self, keys: Iterable[str]) -> None:
        with self.cond:
            self.held.update(keys)

    def holding(self) -> set[str]:
        """Keys with a request waiting for `release()` now."""
        with self.cond:
            return set(self.blocked)

    def freeze(self) -> set[str]:
        """Stop holding keys that have no request waiting yet; the keys still held."""
        with self.cond:
            self.held &= self.blocked
            return set(self.held)

    def release(self) -> None:
        with self.cond:
            self.held.clear()
            self.cond.notify_all()

    def close(self) -> None:
        self.release()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def target() -> Iterator[Target]:
    t = Target()
    yield t
    t.close()


def http_diamond(url: str, name: str) -> dict[str, Any]:
    """Four http_request steps a → (b, c) → d against `url`/<step id>."""

    def http(step_id: str, deps: list[str]) -> dict[str, Any]:
        return {
            "id": step_id,
            "type": "http_request",
            "config": {"url": f"{url}/{step_id}"},
            "depends_on": deps,
        }

    return {
        "name": name,
        "steps": [http("a", []), http("b", ["a"]), http("c", ["a"]), http("d", ["b", "c"])],
    }
