"""Start real `flowdeck` processes."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest


def flowdeck_command() -> list[str]:
    """The installed console script, next to this interpreter."""
    script = Path(sys.executable).parent / "flowdeck"
    return [str(script)] if script.exists() else [sys.executable, "-m", "flowdeck"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    """A running `flowdeck serve` process."""

    proc: subprocess.Popen[bytes]
    url: str
    data_dir: Path
    log: Path

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


def start_server(data_dir: Path, database_url: str, *, env: dict[str, str] | None = None) -> Server:
    """Start `flowdeck serve` and wait until /readyz answers."""
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
    # The process sees only the settings a test gives it, never the developer's own.
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("FLOWDECK_")}
    full_env.update(env or {})
    with log.open("wb") as fh:
        proc = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, env=full_env)
    server = Server(proc=proc, url=f"http://127.0.0.1:{port}", data_dir=data_dir, log=log)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"flowdeck serve exited early:\n{server.output()}")
        try:
            if httpx.get(f"{server.url}/readyz", timeout=1).status_code == 200:
                return server
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    server.stop(signal.SIGKILL)
    raise RuntimeError(f"flowdeck serve did not become ready:\n{server.output()}")


@pytest.fixture
def server(tmp_path: Path, database_url: str) -> Iterator[Server]:
    """A `flowdeck serve` process on the test database."""
    srv = start_server(tmp_path / "data", database_url)
    try:
        yield srv
    finally:
        srv.stop()
