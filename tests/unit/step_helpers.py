"""Shared helpers for step handler tests: a StepContext builder, one-attempt runners, and
finding the processes a script left (the HTTP peer is in tests/support/peer.py)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import httpx

from flowdeck.domain.clock import SystemClock
from flowdeck.engine.steps.base import Completed, StepContext, StepEnvironment, StepFailed
from tests.support.processes import is_alive

RUN_ID = "run_123"
STEP_ID = "call"


def make_context(
    config: Mapping[str, Any],
    *,
    http: httpx.AsyncClient,
    step_type: str,
    template_context: Mapping[str, Any] | None = None,
    timeout_seconds: float | None = None,
    redact: Callable[[Any], Any] | None = None,
    **env: Any,
) -> StepContext:
    """A StepContext for one attempt of step `call` in run `run_123`."""
    ctx = StepContext(
        run_id=RUN_ID,
        workflow_id="wf_1",
        workspace_id="ws_1",
        step_id=STEP_ID,
        step_type=step_type,
        attempt=1,
        config=config,
        template_context=template_context or {},
        env=StepEnvironment(http=http, clock=SystemClock(), **env),
        timeout_seconds=timeout_seconds,
    )
    if redact is not None:
        ctx.redact = redact
    return ctx


def redactor(*secrets: str) -> Callable[[Any], Any]:
    """A redact function masking `secrets` as `***` in every string inside a value."""

    def redact(value: Any) -> Any:
        if isinstance(value, str):
            for secret in secrets:
                value = value.replace(secret, "***")
            return value
        if isinstance(value, dict):
            return {key: redact(item) for key, item in value.items()}
        if isinstance(value, list):
            return [redact(item) for item in value]
        return value

    return redact


def processes_with(marker: str) -> list[int]:
    """Live processes whose command line contains `marker` (found through /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or not is_alive(int(entry.name)):
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if marker.encode() in cmdline:
            found.append(int(entry.name))
    return found


async def wait_until_no_process_with(marker: str, seconds: float = 5) -> list[int]:
    """Wait until no process carries `marker`; the survivors if some outlive `seconds`."""
    survivors = processes_with(marker)
    for _ in range(int(seconds / 0.05)):
        if not survivors:
            break
        await asyncio.sleep(0.05)
        survivors = processes_with(marker)
    return survivors


def unique_sleep_seconds() -> str:
    """A `sleep` duration (about 97 s) unique to this call: a marker to find the process by."""
    return f"97.{uuid.uuid4().int % 10**9:09d}"


async def completed_output(
    handler: Any, http: httpx.AsyncClient, config: dict[str, Any], **kwargs: Any
) -> Any:
    """Run one attempt of `handler`; it must complete; returns its output."""
    ctx = make_context(config, http=http, step_type=handler.type_name, **kwargs)
    outcome = await handler.execute(ctx)
    assert isinstance(outcome, Completed)
    return outcome.output


async def step_failure(
    handler: Any, http: httpx.AsyncClient, config: dict[str, Any], **kwargs: Any
) -> StepFailed:
    """Run one attempt of `handler`; it must fail; returns the failure."""
    ctx = make_context(config, http=http, step_type=handler.type_name, **kwargs)
    try:
        await handler.execute(ctx)
    except StepFailed as failure:
        return failure
    raise AssertionError("the step did not fail")
