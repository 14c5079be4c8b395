"""Following a run on a server live, as `flowdeck run` does locally: a progress table on
stderr, approvals asked at the terminal (or all approved), the outputs on stdout."""

from __future__ import annotations

import asyncio
import json
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import typer
from rich.live import Live

from flowdeck.cli import render
from flowdeck.cli.common import err, out
from flowdeck.cli.remote import RUN_FAILED, Target, open_async_client

if TYPE_CHECKING:
    from flowdeck.client.aio import AsyncClient
    from flowdeck.client.shapes import Run


@dataclass
class Approvals:
    """How approval steps are answered while watching: all approved, asked at the terminal,
    or left for someone else (`flowdeck approve`), said once per step."""

    approve_all: bool
    ask: bool
    seen: set[str]


def watch(
    target: Target,
    run_id: str,
    *,
    approve_all: bool = False,
    timeout: float | None = None,
    as_json: bool = False,
) -> Run:
    """Follow `run_id` until it ends; the run at the end (WaitTimedOut after `timeout`)."""
    ask = sys.stdin.isatty() and not approve_all and not as_json
    approvals = Approvals(approve_all, ask, set())
    return asyncio.run(_watch(target, run_id, approvals, timeout, as_json))


async def _watch(
    target: Target, run_id: str, approvals: Approvals, limit: float | None, as_json: bool
) -> Run:
    from flowdeck.client.errors import WaitTimedOut

    async with open_async_client(target) as client:
        run = await client.runs.get(run_id)
        live = Live(
            render.run_table(run), console=err, refresh_per_second=10, transient=not as_json
        )
        try:
            with live:
                async with asyncio.timeout(limit):
                    run = await _follow(client, run, approvals, live, as_json)
        except TimeoutError:
            run = await client.runs.get(run_id)
            raise WaitTimedOut(
                f"Run '{run_id}' is still {run.status} after {limit:g} seconds", run
            ) from None
        if not as_json and not err.is_terminal:
            err.print(render.run_table(run))
        return run


async def _follow(
    client: AsyncClient, run: Run, approvals: Approvals, live: Live, as_json: bool
) -> Run:
    await _answer(client, run, approvals, live)
    async for event in client.runs.events(run.id):
        if as_json:
            line = {"seq": event.seq, "type": event.type, "data": event.data}
            out.print(json.dumps(line, default=str), markup=False, highlight=False, soft_wrap=True)
        run = await client.runs.get(run.id)
        live.update(render.run_table(run))
        await _answer(client, run, approvals, live)
    run = await client.runs.get(run.id)
    live.update(render.run_table(run))
    return run


async def _answer(client: AsyncClient, run: Run, approvals: Approvals, live: Live) -> None:
    """Decide the approval steps the run waits on now, as the user said."""
    from flowdeck.errors import Conflict

    if run.status != "waiting":
        return
    approve: bool
    comment: str | None
    for step in run.current_steps():
        if step.type != "approval" or step.status != "waiting" or step.step_id in approvals.seen:
            continue
        approvals.seen.add(step.step_id)
        if approvals.approve_all:
            approve, comment = True, "approved by flowdeck --approve-all"
        elif approvals.ask:
            live.stop()  # the prompt needs the terminal
            approve, comment = await asyncio.to_thread(_ask, step.step_id)
            live.start()
        else:
            err.print(
                f"Step '{step.step_id}' waits for an approval: "
                f"flowdeck approve {run.id} {step.step_id} [--reject]",
                highlight=False,
            )
            continue
        try:
            if approve:
                await client.approvals.approve(run.id, step.step_id, comment)
            else:
                await client.approvals.reject(run.id, step.step_id, comment)
        except Conflict:
            pass  # someone else decided first; the events say what happened


def _ask(step_id: str) -> tuple[bool, str | None]:
    err.print(f"[bold]Step '{step_id}' waits for your approval.[/bold]", highlight=False)
    approve = typer.confirm("Approve?", default=False, err=True)
    comment = typer.prompt("Comment", default="", show_default=False, err=True)
    return approve, comment or None


def finish(run: Run, *, as_json: bool, events_printed: bool = False, declared: bool = True) -> None:
    """Print how the run ended (its outputs, or the run with --json) and exit 1 unless it
    completed. `declared`: the workflow declares `outputs` (else each step's are shown)."""
    if as_json and not events_printed:
        render.print_json(run)
    if run.status == "completed":
        err.print(f"[green]✓ run {run.id} completed[/green]", highlight=False)
        if not as_json:
            out.print_json(json.dumps(_result(run, declared), default=str))
        return
    err.print(f"[red]✗ run {run.id} {run.status}: {run.error or ''}[/red]", highlight=False)
    raise typer.Exit(RUN_FAILED)


def _result(run: Run, declared: bool) -> Any:
    if declared:
        return run.output
    return {
        s.step_id: s.output
        for s in run.current_steps()
        if s.loop_step_id is None and s.status == "completed"
    }


def start_remote(
    target: Target,
    workflow: str,
    inputs: dict[str, Any],
    *,
    idempotency_key: str | None,
    detach: bool,
    approve_all: bool,
    timeout: float | None,
    as_json: bool,
) -> None:
    """`flowdeck run NAME` against a server: start, then follow unless --detach."""
    from flowdeck.cli.remote import answering, open_client

    with answering(as_json), open_client(target) as client:
        wf = client.workflows.get(workflow)
        started = client.runs.start(
            wf.id, inputs, idempotency_key=idempotency_key, trigger="manual"
        )
    if detach:
        if as_json:
            render.print_json(started)
        else:
            out.print(started.run_id, highlight=False)
            err.print(f"Follow it with: flowdeck runs watch {started.run_id}", highlight=False)
        return
    err.print(f"run {started.run_id} of {wf.slug} (version {wf.version})", highlight=False)
    with answering(as_json):
        run = watch(target, started.run_id, approve_all=approve_all, timeout=timeout)
    declared = bool((wf.definition or {}).get("outputs"))
    finish(run, as_json=as_json, declared=declared)
