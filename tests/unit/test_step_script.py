"""The script step: real subprocesses, a scrubbed environment, limits, timeouts, cancellation."""

from __future__ import annotations

import asyncio
import json
import os
import textwrap
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from flowdeck.engine.steps.base import StepFailed
from flowdeck.engine.steps.script import DISABLED_MESSAGE, MAX_STREAM_BYTES, ScriptHandler
from tests.support.processes import is_alive
from tests.unit.step_helpers import completed_output, make_context, redactor, step_failure

handler = ScriptHandler()


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as client:
        yield client


def python(code: str, **extra: Any) -> dict[str, Any]:
    return {"language": "python", "code": textwrap.dedent(code), **extra}


def bash(code: str, **extra: Any) -> dict[str, Any]:
    return {"language": "bash", "code": textwrap.dedent(code), **extra}


async def run(http: httpx.AsyncClient, config: dict[str, Any], **kwargs: Any) -> Any:
    return await completed_output(handler, http, config, **kwargs)


async def fail(http: httpx.AsyncClient, config: dict[str, Any], **kwargs: Any) -> StepFailed:
    return await step_failure(handler, http, config, **kwargs)


def read_if_written(path: Path) -> str | None:
    text = path.read_text().strip() if path.exists() else ""
    return text or None


def exists(path: str) -> bool:
    return Path(path).exists()


async def wait_for_file(path: Path, seconds: float = 10) -> str:
    for _ in range(int(seconds / 0.02)):
        if (text := read_if_written(path)) is not None:
            return text
        await asyncio.sleep(0.02)
    raise AssertionError(f"{path} was never written")


async def wait_until_gone(pid: int, seconds: float = 5) -> bool:
    for _ in range(int(seconds / 0.02)):
        if not is_alive(pid):
            return True
        await asyncio.sleep(0.02)
    return False


def test_handler_identity() -> None:
    assert handler.type_name == "script"
    assert handler.config_model.__name__ == "ScriptConfig"


async def test_python_result_is_the_last_stdout_line(http: httpx.AsyncClient) -> None:
    code = """
        print("working…")
        print('{"answer": 42, "ok": true}')
        print()
    """
    output = await run(http, python(code))
    assert output["result"] == {"answer": 42, "ok": True}
    assert output["stdout"].startswith("working…\n")
    assert output["stderr"] == ""
    assert output["exit_code"] == 0


async def test_result_is_null_when_last_line_is_not_json(http: httpx.AsyncClient) -> None:
    output = await run(http, python("print('[1, 2]')\nprint('done')"))
    assert output["result"] is None


async def test_bash_works(http: httpx.AsyncClient) -> None:
    code = """
        set -eu
        n=$((2 + 3))
        echo "log line" >&2
        echo "{\\"n\\": $n}"
    """
    output = await run(http, bash(code))
    assert output["result"] == {"n": 5}
    assert output["stderr"] == "log line\n"


async def test_context_arrives_on_stdin_without_secrets(http: httpx.AsyncClient) -> None:
    context = {
        "inputs": {"name": "Ada"},
        "steps": {"fetch": {"output": {"n": 1}}},
        "run": {"id": "run_123"},
        "secrets": {"api_key": "s3cret"},
    }
    code = """
        import json, sys
        print(json.dumps(json.load(sys.stdin)))
    """
    output = await run(http, python(code), template_context=context)
    assert output["result"] == {key: context[key] for key in ("inputs", "steps", "run")}


async def test_code_is_not_a_template_and_reads_context_from_stdin(
    http: httpx.AsyncClient,
) -> None:
    code = """
        import json, sys
        ctx = json.load(sys.stdin)
        braces = f"{{literal}}"
        print(json.dumps({"n": ctx["inputs"]["n"] * 2, "braces": braces}))
    """
    output = await run(http, python(code), template_context={"inputs": {"n": 21}})
    assert output["result"] == {"n": 42, "braces": "{literal}"}


async def test_environment_is_scrubbed(
    http: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FLOWDECK_SECRET_KEY", "server-secret")
    monkeypatch.setenv("DATABASE_URL", "postgresql://u:p@db/flowdeck")
    monkeypatch.setenv("FLOWDECK_DATABASE_URL", "postgresql://u:p@db/flowdeck")
    code = """
        import json, os
        print(json.dumps({"env": dict(os.environ), "cwd": os.getcwd()}))
    """
    config = python(code, env={"GREETING": "hi", "COUNT": "{{ inputs.n }}"})
    output = await run(http, config, template_context={"inputs": {"n": 3}})
    env = output["result"]["env"]
    assert "FLOWDECK_SECRET_KEY" not in env
    assert "DATABASE_URL" not in env
    assert "FLOWDECK_DATABASE_URL" not in env
    assert env["GREETING"] == "hi"
    assert env["COUNT"] == "3"
    assert env["PATH"] == "/usr/local/bin:/usr/bin:/bin"
    assert env["HOME"] == env["TMPDIR"] == output["result"]["cwd"]
    assert not exists(env["HOME"])  # The temp dir is removed afterwards.


async def test_non_zero_exit_fails_with_stderr(http: httpx.AsyncClient) -> None:
    code = """
        import sys
        print("partial")
        print("first problem", file=sys.stderr)
        print("it broke", file=sys.stderr)
        sys.exit(3)
    """
    failure = await fail(http, python(code))
    assert failure.message == "Script exited with code 3: it broke"
    assert failure.retryable is True
    assert failure.output["exit_code"] == 3
    assert failure.output["stdout"] == "partial\n"
    assert "first problem" in failure.output["stderr"]


async def test_uncaught_exception_names_it(http: httpx.AsyncClient) -> None:
    failure = await fail(http, python("raise ValueError('bad input')"))
    assert failure.message == "Script exited with code 1: ValueError: bad input"


async def test_timeout_kills_the_process_group(http: httpx.AsyncClient, tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    code = """
        sleep 30 &
        echo "$$ $!" > "$PID_FILE"
        sleep 30
    """
    config = bash(code, env={"PID_FILE": str(pids)}, timeout_seconds=0.5)
    failure = await fail(http, config)
    assert failure.message == "Script timed out after 0.5s"
    assert failure.retryable is True
    for pid in map(int, pids.read_text().split()):
        assert await wait_until_gone(pid)


async def test_step_timeout_applies_when_config_has_none(http: httpx.AsyncClient) -> None:
    failure = await fail(http, bash("sleep 30"), timeout_seconds=0.5)
    assert failure.message == "Script timed out after 0.5s"


async def test_cancellation_kills_the_child(http: httpx.AsyncClient, tmp_path: Path) -> None:
    pid_file, home_file = tmp_path / "pid", tmp_path / "home"
    code = """
        import os, pathlib, time
        pathlib.Path(os.environ["HOME_FILE"]).write_text(os.environ["HOME"])
        pathlib.Path(os.environ["PID_FILE"]).write_text(str(os.getpid()))
        time.sleep(30)
    """
    ctx = make_context(
        python(code, env={"PID_FILE": str(pid_file), "HOME_FILE": str(home_file)}),
        http=http,
        step_type="script",
    )
    task = asyncio.create_task(handler.execute(ctx))
    pid = int(await wait_for_file(pid_file))
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    # The child was killed and reaped before the task ended.
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    assert not exists(str(read_if_written(home_file)))


async def test_background_child_does_not_hold_the_step(
    http: httpx.AsyncClient, tmp_path: Path
) -> None:
    pid_file = tmp_path / "pid"
    code = """
        sleep 30 &
        echo $! > "$PID_FILE"
        echo '"done"'
    """
    output = await run(http, bash(code, env={"PID_FILE": str(pid_file)}, timeout_seconds=20))
    assert output["result"] == "done"
    assert await wait_until_gone(int(pid_file.read_text()))


async def test_scripts_can_be_disabled(http: httpx.AsyncClient) -> None:
    failure = await fail(http, python("print(1)"), allow_scripts=False)
    assert failure.message == DISABLED_MESSAGE
    assert failure.retryable is False


async def test_memory_limit(http: httpx.AsyncClient) -> None:
    code = "data = bytearray(2 * 1024 ** 3)\nprint(len(data))"
    failure = await fail(http, python(code), script_memory_mb=256)
    assert "MemoryError" in failure.message


async def test_cpu_limit(http: httpx.AsyncClient) -> None:
    failure = await fail(http, python("while True: pass"), script_cpu_seconds=1)
    assert failure.message.startswith("Script was killed by SIGXCPU")


async def test_large_output_keeps_the_tail(http: httpx.AsyncClient) -> None:
    code = """
        import sys
        sys.stdout.write("x" * (3 * 1024 * 1024) + "\\n")
        print('{"last": true}')
    """
    output = await run(http, python(code))
    assert output["result"] == {"last": True}
    assert output["stdout"].startswith("[output truncated: first ")
    assert len(output["stdout"]) < MAX_STREAM_BYTES + 100


async def test_secrets_are_redacted(http: httpx.AsyncClient) -> None:
    code = """
        import sys
        print("token s3cret", file=sys.stderr)
        print('{"key": "s3cret"}')
        sys.exit(1)
    """
    failure = await fail(http, python(code), redact=redactor("s3cret"))
    assert failure.message == "Script exited with code 1: token ***"
    assert failure.output["result"] == {"key": "***"}
    assert "s3cret" not in json.dumps(failure.output)


async def test_invalid_config_is_not_retryable(http: httpx.AsyncClient) -> None:
    failure = await fail(http, {"language": "ruby", "code": "puts 1"})
    assert failure.retryable is False
    assert failure.message.startswith("Invalid script config: language:")


async def test_bad_env_name_is_not_retryable(http: httpx.AsyncClient) -> None:
    failure = await fail(http, python("print(1)", env={"A=B": "1"}))
    assert failure.retryable is False
    assert failure.message.startswith("Cannot start the python script")


async def test_script_that_ignores_a_large_stdin(http: httpx.AsyncClient) -> None:
    context = {"inputs": {"blob": "x" * (2 * 1024 * 1024)}}
    output = await run(http, bash("echo 1"), template_context=context)
    assert output["result"] == 1
