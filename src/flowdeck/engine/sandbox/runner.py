"""Run one prepared script: feed stdin, collect output, enforce time and tree-wide limits.

However it ends (exit, timeout, cancellation, a cap), the whole process tree is killed
before this returns; the sandboxes keep that tree closed (bubblewrap's PID namespace, the
Landlock supervisor as subreaper), so nothing the script started survives it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import subprocess
from collections import deque
from dataclasses import dataclass
from typing import Any

from flowdeck.engine.sandbox.launcher import Backend, Launch
from flowdeck.engine.sandbox.policy import Limits, ScriptJob
from flowdeck.engine.sandbox.tree import descendants, disk_usage, kill_tree, private_memory

MAX_STREAM_BYTES = 1024 * 1024
# How often the tree's memory and the temp dir's size are sampled.
WATCH_SECONDS = 0.2
# How long to wait for a killed process to be reaped, and for its pipes to drain.
_REAP_SECONDS = 5.0
_CHUNK = 64 * 1024
_MIB = 1024 * 1024


@dataclass(frozen=True)
class Finished:
    """What a script run left behind; `cap` names the limit that ended it, if one did."""

    exit_code: int | None
    stdout: str
    stderr: str
    cap: str | None = None


class TimedOut(Exception):
    """The script ran past its time limit and was killed."""

    def __init__(self, finished: Finished) -> None:
        super().__init__("timed out")
        self.finished = finished


async def run_script(backend: Backend, job: ScriptJob, limits: Limits) -> Finished:
    """Run `job` under `backend` to its end; raises TimedOut, or OSError if it cannot start."""
    launch = backend.prepare(job)
    try:
        return await _run(launch, job, limits)
    finally:
        launch.close()
        if launch.workdir is not None:
            remove = asyncio.to_thread(shutil.rmtree, launch.workdir, ignore_errors=True)
            await asyncio.shield(remove)


async def _run(launch: Launch, job: ScriptJob, limits: Limits) -> Finished:
    try:
        proc = await asyncio.create_subprocess_exec(
            *launch.argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=launch.cwd,
            env=launch.env,
            pass_fds=launch.child_fds,
            start_new_session=True,  # Its own process group: the unsandboxed mode relies on it.
            preexec_fn=launch.preexec,
        )
    finally:
        launch.close_child_fds()
    out = asyncio.create_task(_read_tail(proc.stdout))
    err = asyncio.create_task(_read_tail(proc.stderr))
    feed = asyncio.create_task(_feed(proc.stdin, job.stdin))
    broken: list[str] = []
    watch = asyncio.create_task(_watch(proc.pid, launch, limits, broken))
    tasks: list[asyncio.Task[Any]] = [watch, out, err, feed]
    code: int | None = None
    try:
        async with asyncio.timeout(job.time_limit):
            if launch.after_spawn is not None:
                await launch.after_spawn(proc.pid)
            code = await _exit_code(proc)
    except TimeoutError:
        pass
    except BaseException:
        # Cancelled (or the sandbox could not be set up): nothing may outlive the step.
        # Kill now, then wait for the reaping even if cancelled again.
        watch.cancel()
        kill_tree(proc.pid)
        await asyncio.shield(_reap(proc, tasks))
        raise
    watch.cancel()
    # Also ends background children, which would otherwise hold the pipes open.
    await _reap(proc, tasks)
    if code is not None and launch.signal_exit_codes:
        code = _signal_code(code)
    finished = Finished(code, _task_text(out), _task_text(err), broken[0] if broken else None)
    if code is None:
        raise TimedOut(finished)
    return finished


async def _watch(root: int, launch: Launch, limits: Limits, broken: list[str]) -> None:
    """Sample the tree until cancelled; kill it and note in `broken` the cap it broke."""
    memory = limits.memory_mb * _MIB if limits.memory_mb > 0 else None
    tmp = limits.tmp_size_mb * _MIB if launch.workdir and limits.tmp_size_mb > 0 else None
    while True:
        await asyncio.sleep(WATCH_SECONDS)
        cap = await asyncio.to_thread(_broken_cap, root, memory, launch.workdir, tmp)
        if cap is not None:
            broken.append(cap)
            await asyncio.to_thread(kill_tree, root)
            return


def _broken_cap(root: int, memory: int | None, workdir: str | None, tmp: int | None) -> str | None:
    if memory is not None and private_memory([root, *descendants(root)]) > memory:
        return "memory"
    if workdir is not None and tmp is not None and disk_usage(workdir, tmp) > tmp:
        return "temp dir"
    return None


def _signal_code(code: int) -> int:
    """bubblewrap exits 128 + N when the script died of signal N; report it as -N."""
    if 128 < code < 128 + signal.NSIG:
        return 128 - code
    return code


async def _read_tail(stream: asyncio.StreamReader | None) -> str:
    """Read `stream` to its end, keeping the last MAX_STREAM_BYTES (the result line is last)."""
    if stream is None:
        return ""
    chunks: deque[bytes] = deque()
    kept = total = 0
    while chunk := await stream.read(_CHUNK):
        chunks.append(chunk)
        kept += len(chunk)
        total += len(chunk)
        while kept - len(chunks[0]) >= MAX_STREAM_BYTES:
            kept -= len(chunks.popleft())
    data = b"".join(chunks)[-MAX_STREAM_BYTES:]
    text = data.decode("utf-8", errors="replace")
    if total > len(data):
        text = f"[output truncated: first {total - len(data)} bytes dropped]\n{text}"
    return text


async def _feed(stream: asyncio.StreamWriter | None, data: bytes) -> None:
    if stream is None:
        return
    # The script may exit without reading its stdin; that is its business.
    try:
        with contextlib.suppress(OSError):
            stream.write(data)
            await stream.drain()
    finally:
        stream.close()


async def _exit_code(proc: asyncio.subprocess.Process) -> int:
    """The exit code as soon as the process itself exits.

    `Process.wait()` also waits for the pipes to close, which a background child of the
    script can hold open forever, so the return code is watched as well.
    """
    waiter = asyncio.ensure_future(proc.wait())
    delay = 0.005
    try:
        while proc.returncode is None:
            await asyncio.wait({waiter}, timeout=delay)
            delay = min(delay * 2, 0.1)
        return proc.returncode
    finally:
        waiter.cancel()


async def _reap(proc: asyncio.subprocess.Process, tasks: list[asyncio.Task[Any]]) -> None:
    """Kill the tree and the process group, then wait (bounded) for the process and pipes."""
    await asyncio.to_thread(kill_tree, proc.pid)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    try:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(_REAP_SECONDS):
                await _exit_code(proc)
                await asyncio.wait(tasks)
    finally:
        for task in tasks:
            task.cancel()


def _task_text(task: asyncio.Task[str]) -> str:
    if task.done() and not task.cancelled() and task.exception() is None:
        return task.result()
    return ""
