"""The script sandbox, through the real handler, with real bwrap and with Landlock forced.

The test process plays the server: its pid, its data dir, the loopback ports it listens on.
"""

from __future__ import annotations

import asyncio
import os
import socket
import textwrap
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from flowdeck.engine.sandbox.policy import TEMP_PREFIX, temp_parent
from flowdeck.engine.steps.script import ScriptHandler
from tests.sandbox_probes import (
    ESCAPE_PROBES,
    ESCAPEES,
    landlock_env,
    listening_unix_socket,
    make_data_dir,
    unix_sockets,
)
from tests.unit.step_helpers import (
    completed_output,
    make_context,
    processes_with,
    step_failure,
    unique_sleep_seconds,
    wait_until_no_process_with,
)

handler = ScriptHandler()
POSTGRES_PORT = 5432


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as client:
        yield client


@pytest.fixture(params=["bwrap", "landlock"])
def sandbox(request: pytest.FixtureRequest) -> dict[str, Any]:
    """Step-environment settings forcing one sandbox backend."""
    if request.param == "bwrap":
        return {"script_sandbox": "bwrap"}
    return landlock_env()


@pytest.fixture
def listening_port() -> Iterator[int]:
    """A loopback port the 'server' listens on (connections complete without accept())."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(16)
        yield sock.getsockname()[1]


def python(code: str, **extra: Any) -> dict[str, Any]:
    return {"language": "python", "code": textwrap.dedent(code), **extra}


def bash(code: str, **extra: Any) -> dict[str, Any]:
    return {"language": "bash", "code": textwrap.dedent(code), **extra}


@pytest.fixture
def unix_socket() -> Iterator[Path]:
    with listening_unix_socket() as path:
        yield path


def probe_env(data_dir: Path, ports: list[int], sockets: str) -> dict[str, str]:
    return {
        "DATA_DIR": str(data_dir),
        "SERVER_PID": str(os.getpid()),
        "PORTS": ",".join(map(str, ports)),
        "UNIX_SOCKETS": sockets,
    }


async def test_the_server_is_out_of_reach(
    http: httpx.AsyncClient,
    sandbox: dict[str, Any],
    tmp_path: Path,
    listening_port: int,
    unix_socket: Path,
) -> None:
    data = make_data_dir(tmp_path)
    env = probe_env(data, [listening_port, POSTGRES_PORT], unix_sockets(unix_socket))
    output = await completed_output(handler, http, python(ESCAPE_PROBES, env=env), **sandbox)
    reached = {probe: how for probe, how in output["result"].items() if how == "allowed"}
    assert reached == {}, output["result"]
    assert len(output["result"]) == 10 + len(env["UNIX_SOCKETS"].split(","))
    assert not (data / "planted").exists()
    assert sorted(p.name for p in data.iterdir()) == ["admin.key", "flowdeck.db", "secret.key"]


async def test_network_true_reaches_the_host_network(
    http: httpx.AsyncClient, sandbox: dict[str, Any], listening_port: int
) -> None:
    code = f"""
        import socket
        socket.create_connection(("127.0.0.1", {listening_port}), timeout=3).close()
        print('"connected"')
    """
    output = await completed_output(handler, http, python(code), script_network=True, **sandbox)
    assert output["result"] == "connected"


async def test_network_true_still_keeps_unix_sockets_out_of_reach(
    http: httpx.AsyncClient, sandbox: dict[str, Any], unix_socket: Path
) -> None:
    code = f"""
        import socket
        with socket.socket(socket.AF_UNIX) as sock:
            sock.connect({str(unix_socket)!r})
    """
    failure = await step_failure(handler, http, python(code), script_network=True, **sandbox)
    assert failure.message.startswith("Script exited with code 1: "), failure.message


async def test_the_temp_dir_is_the_only_writable_place(
    http: httpx.AsyncClient, sandbox: dict[str, Any]
) -> None:
    code = """
        import json, os
        wrote = {}
        for place in (os.environ["HOME"], "/usr", "/etc", "/", "/var/tmp", "/dev/shm"):
            try:
                with open(os.path.join(place, "flowdeck-probe"), "w") as fh:
                    fh.write("x")
                wrote[place] = True
            except OSError:
                wrote[place] = False
        print(json.dumps(wrote))
    """
    output = await completed_output(handler, http, python(code), **sandbox)
    wrote = output["result"]
    home = next(iter(wrote))
    assert wrote.pop(home) is True
    # bwrap points /dev/shm into the temp dir; Landlock leaves it out.
    wrote.pop("/dev/shm")
    assert set(wrote.values()) == {False}, output["result"]


async def test_no_descendant_outlives_a_finished_step(
    http: httpx.AsyncClient, sandbox: dict[str, Any]
) -> None:
    markers = {"setsid_marker": unique_sleep_seconds(), "daemon_marker": unique_sleep_seconds()}
    code = ESCAPEES.format(**markers) + "sleep 0.3\necho '\"done\"'\n"
    output = await completed_output(handler, http, bash(code), **sandbox)
    assert output["result"] == "done"
    for marker in markers.values():
        assert await wait_until_no_process_with(marker) == []


async def test_no_descendant_outlives_a_timeout(
    http: httpx.AsyncClient, sandbox: dict[str, Any]
) -> None:
    markers = {"setsid_marker": unique_sleep_seconds(), "daemon_marker": unique_sleep_seconds()}
    config = bash(ESCAPEES.format(**markers) + "sleep 30\n", timeout_seconds=1.5)
    failure = await step_failure(handler, http, config, **sandbox)
    assert failure.message == "Script timed out after 1.5s"
    for marker in markers.values():
        assert await wait_until_no_process_with(marker) == []


async def test_no_descendant_outlives_a_cancel(
    http: httpx.AsyncClient, sandbox: dict[str, Any]
) -> None:
    markers = {"setsid_marker": unique_sleep_seconds(), "daemon_marker": unique_sleep_seconds()}
    config = bash(ESCAPEES.format(**markers) + "sleep 30\n")
    task = asyncio.create_task(
        handler.execute(make_context(config, http=http, step_type="script", **sandbox))
    )
    for _ in range(500):
        if all(processes_with(marker) for marker in markers.values()):
            break
        await asyncio.sleep(0.02)
    assert all(processes_with(marker) for marker in markers.values()), "never started"
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    for marker in markers.values():
        # Within the second a cancelled run allows.
        assert await wait_until_no_process_with(marker, seconds=1) == []


async def test_a_fork_bomb_hits_the_process_cap(
    http: httpx.AsyncClient, sandbox: dict[str, Any]
) -> None:
    code = """
        import os, time
        forked = 0
        for _ in range(400):
            try:
                pid = os.fork()
            except OSError:
                break
            if pid == 0:
                time.sleep(20)
                os._exit(0)
            forked += 1
        print(forked)
    """
    output = await completed_output(handler, http, python(code), script_max_processes=32, **sandbox)
    assert 0 < output["result"] < 32


async def test_memory_is_capped_over_the_whole_tree(
    http: httpx.AsyncClient, sandbox: dict[str, Any]
) -> None:
    code = """
        import os, time
        children = []
        for _ in range(4):
            pid = os.fork()
            if pid == 0:
                block = b"x" * (400 * 1024 * 1024)  # written, so really resident
                time.sleep(20)
                os._exit(0)
            children.append(pid)
        for pid in children:
            os.waitpid(pid, 0)
        print('"all four held 400 MB"')
    """
    config = python(code, timeout_seconds=30)
    failure = await step_failure(handler, http, config, script_memory_mb=512, **sandbox)
    assert failure.message == "Script exceeded its memory limit of 512 MB (all its processes)"
    assert failure.retryable is False


async def test_file_size_is_capped(http: httpx.AsyncClient, sandbox: dict[str, Any]) -> None:
    code = """
        with open("big", "wb") as fh:
            fh.write(b"x" * (2 * 1024 * 1024))
        print('"wrote 2 MB"')
    """
    failure = await step_failure(handler, http, python(code), script_file_size_mb=1, **sandbox)
    # Python ignores SIGXFSZ, so the write fails with EFBIG instead.
    assert failure.message == "Script exited with code 1: OSError: [Errno 27] File too large"
    shell = "exec head -c 2097152 /dev/zero > big"
    failure = await step_failure(handler, http, bash(shell), script_file_size_mb=1, **sandbox)
    assert failure.message.startswith("Script was killed by SIGXFSZ"), failure.message


async def test_the_temp_dir_size_is_capped(
    http: httpx.AsyncClient, sandbox: dict[str, Any]
) -> None:
    code = """
        import time
        for n in range(6):
            with open(f"part{n}", "wb") as fh:
                fh.write(b"x" * (1024 * 1024))
        time.sleep(3)
        print('"wrote 6 MB"')
    """
    failure = await step_failure(handler, http, python(code), script_tmp_size_mb=2, **sandbox)
    # bwrap's tmpfs refuses the write; Landlock's temp dir is on the host, watched instead.
    assert (
        "No space left on device" in failure.message
        or failure.message == "Script exceeded its temp dir limit of 2 MB"
    ), failure.message


async def test_none_runs_unsandboxed(http: httpx.AsyncClient, tmp_path: Path) -> None:
    data = make_data_dir(tmp_path)
    code = f"print(open({str(data / 'admin.key')!r}).read())"
    output = await completed_output(handler, http, python(code), script_sandbox="none")
    assert output["stdout"] == "admin.key content\n"


async def test_an_unavailable_sandbox_fails_the_step_with_one_sentence(
    http: httpx.AsyncClient,
) -> None:
    missing = "/nonexistent/bwrap"
    failure = await step_failure(
        handler, http, python("print(1)"), script_sandbox="bwrap", script_bwrap_path=missing
    )
    assert failure.message == (
        "Script steps cannot run: no script sandbox can be set up on this server "
        f"(bwrap: no executable bwrap at {missing}); an instance owner can set "
        "FLOWDECK_SCRIPT_SANDBOX=none to run scripts unsandboxed, for single-user installs only"
    )
    assert failure.retryable is False


async def test_stale_temp_dirs_are_swept_at_start(http: httpx.AsyncClient) -> None:
    # A server that died (its pid is gone) left a temp dir behind.
    dead = await asyncio.create_subprocess_exec("true")
    await dead.wait()
    stale = temp_parent() / f"{TEMP_PREFIX}{dead.pid}-leftover"
    stale.mkdir()
    (stale / "main.py").write_text("print(1)")
    # The sandbox is chosen (and the sweep done) once per policy: use a fresh one.
    await completed_output(
        handler, http, python("print(1)"), script_sandbox="none", script_tmp_size_mb=3
    )
    assert not stale.exists()
