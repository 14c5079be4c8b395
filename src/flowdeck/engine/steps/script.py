"""The `script` step: run Python or bash in a sandbox (SPEC §3; `engine/sandbox`)."""

from __future__ import annotations

import json
import signal
from collections.abc import Mapping
from typing import Any

from flowdeck.domain.step_configs import ScriptConfig
from flowdeck.engine.sandbox.policy import Limits, SandboxPolicy, ScriptJob
from flowdeck.engine.sandbox.runner import MAX_STREAM_BYTES, Finished, TimedOut, run_script
from flowdeck.engine.sandbox.select import select_sandbox
from flowdeck.engine.steps.base import (
    Completed,
    StepContext,
    StepEnvironment,
    StepFailed,
    StepOutcome,
)
from flowdeck.engine.steps.common import redact_text, validated_config

__all__ = ["DISABLED_MESSAGE", "MAX_STREAM_BYTES", "ScriptHandler", "parse_result"]

DISABLED_MESSAGE = "Script steps are disabled on this server (FLOWDECK_ALLOW_SCRIPTS=false)"
CONTEXT_KEYS = ("inputs", "steps", "run", "loop")


def sandbox_policy(env: StepEnvironment) -> SandboxPolicy:
    """The sandbox policy the process settings describe."""
    limits = Limits(
        cpu_seconds=env.script_cpu_seconds,
        memory_mb=env.script_memory_mb,
        max_processes=env.script_max_processes,
        file_size_mb=env.script_file_size_mb,
        tmp_size_mb=env.script_tmp_size_mb,
    )
    return SandboxPolicy(
        mode=env.script_sandbox,
        network=env.script_network,
        limits=limits,
        bwrap_path=env.script_bwrap_path,
        python=env.script_python,
        uid=env.script_uid,
    )


def _stdin_payload(template_context: Mapping[str, Any]) -> bytes:
    """The run context for the script's stdin (never the secrets)."""
    data = {key: template_context[key] for key in CONTEXT_KEYS if key in template_context}
    return json.dumps(data, default=str, ensure_ascii=False).encode("utf-8")


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


def _cap_message(cap: str, limits: Limits) -> str:
    if cap == "memory":
        return f"Script exceeded its memory limit of {limits.memory_mb} MB (all its processes)"
    return f"Script exceeded its temp dir limit of {limits.tmp_size_mb} MB"


class ScriptHandler:
    """Run a Python or bash script in the sandbox, with limits over its process tree."""

    type_name = "script"
    config_model = ScriptConfig

    async def execute(self, ctx: StepContext) -> StepOutcome:
        """Run the script once; a non-zero exit, a broken cap or a timeout fails the step."""
        if not ctx.env.allow_scripts:
            raise StepFailed(DISABLED_MESSAGE, retryable=False)
        config = await validated_config(ctx, ScriptConfig, text_maps=("env",), verbatim=("code",))
        policy = sandbox_policy(ctx.env)
        selection = await select_sandbox(policy)
        if selection.backend is None:
            raise StepFailed(selection.unavailable_message(), retryable=False)
        time_limit = config.timeout_seconds or ctx.timeout_seconds
        job = ScriptJob(
            config.language,
            config.code,
            dict(config.env),
            _stdin_payload(ctx.template_context),
            time_limit,
        )
        try:
            finished = await run_script(selection.backend, job, policy.limits)
        except TimedOut as exc:
            output = self._output(ctx, exc.finished)
            message = f"Script timed out after {time_limit:g}s"
            raise StepFailed(message, retryable=True, output=output) from None
        except (OSError, ValueError) as exc:
            # A missing interpreter or a bad env name stays broken; a failed fork may not.
            permanent = isinstance(exc, FileNotFoundError | ValueError)
            message = f"Cannot start the {config.language} script: {exc}"
            raise StepFailed(redact_text(ctx, message), retryable=not permanent) from None
        output = self._output(ctx, finished)
        if finished.cap is not None:
            message = _cap_message(finished.cap, policy.limits)
            raise StepFailed(message, retryable=False, output=output)
        if finished.exit_code != 0:
            code = finished.exit_code if finished.exit_code is not None else -1
            message = _exit_message(code, output["stderr"], policy.limits.cpu_seconds)
            raise StepFailed(redact_text(ctx, message), retryable=True, output=output)
        return Completed(output)

    @staticmethod
    def _output(ctx: StepContext, finished: Finished) -> dict[str, Any]:
        return {
            "result": ctx.redact(parse_result(finished.stdout)),
            "stdout": redact_text(ctx, finished.stdout),
            "stderr": redact_text(ctx, finished.stderr),
            "exit_code": finished.exit_code,
        }
