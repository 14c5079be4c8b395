"""`flowdeck serve` as an operator meets it: a taken port, and a shutdown with a stream open."""

from __future__ import annotations

import signal
import socket
import subprocess
import threading
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import _process_env, flowdeck_command, start_server

pytestmark = pytest.mark.e2e


def test_a_taken_port_is_one_clear_line_and_nothing_starts(
    tmp_path: Path, database_url: str
) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        done = subprocess.run(
            [
                *flowdeck_command(),
                "serve",
                "--port",
                str(port),
                "--data-dir",
                str(tmp_path / "data"),
                "--database-url",
                database_url,
            ],
            capture_output=True,
            text=True,
            timeout=60,
            env=_process_env(None),
        )
    assert done.returncode == 1
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert lines == [
        f"Cannot listen on 127.0.0.1:{port}: address already in use (another Flowdeck or "
        "another program holds it; choose another with --port or FLOWDECK_PORT)"
    ]
    assert "listening" not in done.stdout + done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    assert not (tmp_path / "data" / "admin.key").exists()  # nothing else started


def test_shutdown_ends_an_open_stream_cleanly(tmp_path: Path, database_url: str) -> None:
    server = start_server(tmp_path / "data", database_url)
    try:
        key = (server.data_dir / "admin.key").read_text().strip()
        assert f"Flowdeck listening on {server.url}" in server.output()
        h = {"Authorization": f"Bearer {key}"}
        gate = {"id": "gate", "type": "approval", "config": {"message": "go?"}}
        with httpx.Client(base_url=server.url, headers=h, timeout=10) as c:
            wf = c.post("/api/workflows", json={"definition": {"name": "G", "steps": [gate]}})
            run_id = c.post(f"/api/workflows/{wf.json()['id']}/run", json={}).json()["run_id"]
            seen: list[str] = []
            ended = threading.Event()
            with c.stream("GET", f"/api/workflows/runs/{run_id}/stream", timeout=30) as resp:
                assert resp.status_code == 200
                lines = resp.iter_lines()
                for line in lines:  # the replayed log, up to the gate waiting
                    seen.append(line)
                    if line == "event: step_waiting":
                        break
                threading.Timer(0.2, server.proc.send_signal, (signal.SIGTERM,)).start()
                for line in lines:  # the server ends the stream; the client sees a clean end
                    seen.append(line)
                ended.set()
        assert ended.is_set() and "event: run_started" in seen
        server.proc.wait(timeout=30)
        assert server.proc.returncode == 0
    finally:
        server.stop()
    output = server.output()
    assert "ASGI callable returned without completing response" not in output
    assert "Traceback" not in output and "ERROR" not in output
