"""The `script` step: run Python or bash in a sandboxed subprocess (SPEC §3)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flowdeck.domain.step_configs import ScriptConfig
from flowdeck.engine.steps.base import Completed, StepContext, StepFailed, StepOutcome
from flowdeck.engine.steps.common import redact_text, validated_config

DISABLED_MESSAGE = "Script steps are disabled on this server (FLOWDECK_ALLOW_SCRIPTS=false)"
SCRIPT_PATH = "/usr/local/bin:/usr/bin:/bin"
MAX_STREAM_BYTES = 1024 * 1024
CONTEXT_KEYS = ("inputs", "steps", "run", "loop")
# How long to wait for a killed process to be reaped, and for its pipes to drain.
_REAP_SECONDS = 5.0
_CHUNK = 64 * 1024


@dataclass(frozen=True)
class _Finished:
    """What a script run left behind."""

    exit_code: int | None
    stdout: str
    stderr: str


class _TimedOut(Exception):
    """The script ran past its time limit and was killed."""

    def __init__(self, finished: _Finished) -> None:
        super().__init__("timed out")
        self.finished = finished


def _set_limit(which: int, soft: int, hard: int | None = None) -> None:
    """Lower a limit, never above the hard limit the server itself runs under."""
    hard = soft if hard is None else hard
    _, ceiling = resource.getrlimit(which)
    if ceiling != resource.RLIM_INFINITY:
        soft, hard = min(soft, ceiling), min(hard, ceiling)
    resource.setrlimit(which, (soft, hard))


def _limiter(cpu_seconds: int, memory_mb: int) -> Callable[[], None]:
    """A preexec_fn setting the child's CPU, address-space and core-dump limits (<= 0: none)."""

    def apply() -> None:
        if cpu_seconds > 0:
            # SIGXCPU at the soft limit, SIGKILL one second later if it is caught.
            _set_limit(resource.RLIMIT_CPU, cpu_seconds, cpu_seconds + 1)
        if memory_mb > 0:
            _set_limit(resource.RLIMIT_AS, memory_mb * 1024 * 1024)
        _set_limit(resource.RLIMIT_CORE, 0)

    return apply


def _prepare(workdir: str, config: ScriptConfig) -> list[str]:
    """Write the code into `workdir` and return the command line that runs it."""
    if config.language == "python":
        path = Path(workdir) / "main.py"
        path.write_text(config.code, encoding="utf-8")
        return [sys.executable, "-I", str(path)]
    path = Path(workdir) / "main.sh"
    path.write_text(config.code, encoding="utf-8")
    return ["bash", "--noprofile", "--norc", str(path)]


def _environment(workdir: str, extra: Mapping[str, str]) -> dict[str, str]:
    """The child's environment, built from scratch: nothing of the server's leaks in."""
    env = {
        "PATH": SCRIPT_PATH,
        "HOME": workdir,
        "TMPDIR": workdir,
        "LANG": "C.UTF-8",
        "PYTHONIOENCODING": "utf-8",
    }
    env.update(extra)
    return env


def _stdin_payload(template_context: Mapping[str, Any]) -> bytes:
    """The run context for the script's stdin (never the secrets)."""
    data = {key: template_context[key] for key in CONTEXT_KEYS if key in template_context}
    return json.dumps(data, default=str, ensure_ascii=False).encode("utf-8")


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


def _kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


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
    """Kill the process group, then wait (bounded) for the process and the pipe readers."""
    _kill_group(proc.pid)
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


async def _run(
    argv: list[str],
    *,
    workdir: str,
    env: dict[str, str],
    stdin: bytes,
    preexec: Callable[[], None],
    time_limit: float | None,
) -> _Finished:
    """Run the script to its end, or kill its whole process group on timeout or cancellation."""
    proc = await asyncio.create_subprocess_exec(
        *argv,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=workdir,
        env=env,
        start_new_session=True,  # Its own process group, so killpg reaches every descendant.
        preexec_fn=preexec,
    )
    out = asyncio.create_task(_read_tail(proc.stdout))
    err = asyncio.create_task(_read_tail(proc.stderr))
    feed = asyncio.create_task(_feed(proc.stdin, stdin))
    tasks: list[asyncio.Task[Any]] = [out, err, feed]
    code: int | None = None
    try:
        async with asyncio.timeout(time_limit):
            code = await _exit_code(proc)
    except TimeoutError:
        pass
    except BaseException:
        # Cancelled: the process group must not outlive the step. Kill it now, then wait
        # for it even if cancelled again.
        _kill_group(proc.pid)
        await asyncio.shield(_reap(proc, tasks))
        raise
    # Also ends background children, which would otherwise hold the pipes open.
    await _reap(proc, tasks)
    finished = _Finished(code, _task_text(out), _task_text(err))
    if code is None:
        raise _TimedOut(finished)
    return finished


def _last_line(text: str) -> str:
    lines = [line for line in text.splitlines() if line.strip()]
    return lines[-1].strip() if lines else ""


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def parse_result(stdout: str) -> Any:
    """The last non-empty stdout line parsed as JSON, or None."""
    line = _last_line(stdout)
    if not line:
        return None
    try:
        return json.loads(line, parse_constant=_reject_constant)
    except (ValueError, RecursionError):
        return None


def _exit_message(code: int, stderr: str, cpu_seconds: int) -> str:
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        message = f"Script was killed by {name}"
        if -code == signal.SIGXCPU:
            message += f" (CPU time limit of {cpu_seconds}s reached)"
        return message
    last = _last_line(stderr)
    return f"Script exited with code {code}: {last}" if last else f"Script exited with code {code}"


class ScriptHandler:
    """Run a Python or bash script with a scrubbed environment and resource limits."""

    type_name = "script"
    config_model = ScriptConfig

    async def execute(self, ctx: StepContext) -> StepOutcome:
        """Run the script once; a non-zero exit or a timeout fails the step."""
        if not ctx.env.allow_scripts:
            raise StepFailed(DISABLED_MESSAGE, retryable=False)
        config = await validated_config(ctx, ScriptConfig, text_maps=("env",), verbatim=("code",))
        time_limit = config.timeout_seconds or ctx.timeout_seconds
        workdir = tempfile.mkdtemp(prefix="flowdeck-script-")
        try:
            argv = _prepare(workdir, config)
            finished = await _run(
                argv,
                workdir=workdir,
                env=_environment(workdir, config.env),
                stdin=_stdin_payload(ctx.template_context),
                preexec=_limiter(ctx.env.script_cpu_seconds, ctx.env.script_memory_mb),
                time_limit=time_limit,
            )
        except _TimedOut as exc:
            output = self._output(ctx, exc.finished)
            message = f"Script timed out after {time_limit:g}s"
            raise StepFailed(message, retryable=True, output=output) from None
        except (OSError, ValueError, subprocess.SubprocessError) as exc:
            # A missing interpreter or a bad env name stays broken; a failed fork may not.
            permanent = isinstance(exc, FileNotFoundError | ValueError)
            message = f"Cannot start the {config.language} script: {exc}"
            raise StepFailed(redact_text(ctx, message), retryable=not permanent) from None
        finally:
            await asyncio.shield(asyncio.to_thread(shutil.rmtree, workdir, ignore_errors=True))
        output = self._output(ctx, finished)
        if finished.exit_code != 0:
            code = finished.exit_code if finished.exit_code is not None else -1
            message = _exit_message(code, output["stderr"], ctx.env.script_cpu_seconds)
            raise StepFailed(redact_text(ctx, message), retryable=True, output=output)
        return Completed(output)

    @staticmethod
    def _output(ctx: StepContext, finished: _Finished) -> dict[str, Any]:
        return {
            "result": ctx.redact(parse_result(finished.stdout)),
            "stdout": redact_text(ctx, finished.stdout),
            "stderr": redact_text(ctx, finished.stderr),
            "exit_code": finished.exit_code,
        }
