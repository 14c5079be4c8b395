"""`flowdeck run FILE`: run a definition in-process on a throwaway store, with live progress."""

from __future__ import annotations

import asyncio
import logging
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from rich.console import Console
from rich.live import Live
from rich.table import Table

from flowdeck.config import Settings
from flowdeck.domain.clock import SystemClock
from flowdeck.domain.records import Run, StepRun
from flowdeck.engine.egress import ALLOW_ALL
from flowdeck.errors import Conflict, InvalidInput
from flowdeck.services.auth import AuthService, Principal
from flowdeck.services.container import Services
from flowdeck.store.migrate import upgrade
from flowdeck.store.store import Store

STATUS_STYLE = {
    "completed": "green",
    "failed": "red",
    "running": "cyan",
    "waiting": "yellow",
    "skipped": "dim",
    "cancelled": "magenta",
    "pending": "dim",
    "ready": "blue",
}
LOCAL_EGRESS_NOTE = (
    "flowdeck run: the egress guard is off in local mode; steps may reach any address, "
    "loopback and intranet included (set FLOWDECK_HTTP_ALLOW to guard)"
)


def parse_secrets(pairs: list[str], files: list[Path]) -> dict[str, str]:
    """Secrets from `NAME=VALUE` options and from files of such lines (`#` comments, blank
    lines and an `export ` prefix allowed, as in a .env file); options win."""
    found: dict[str, str] = {}
    for path in files:
        for number, line in enumerate(path.read_text().splitlines(), 1):
            text = line.strip()
            if not text or text.startswith("#"):
                continue
            name, sep, value = text.removeprefix("export ").partition("=")
            if not sep or not name.strip():
                raise ValueError(f"{path}:{number}: expected NAME=VALUE")
            found[name.strip()] = value.strip().strip("'\"")
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise ValueError(f"--secret takes NAME=VALUE, got {pair.split('=')[0]!r}=…")
        found[name] = value
    return found


@dataclass(frozen=True)
class Approvals:
    """How a local run answers its approval steps: all yes, by asking at the terminal, or
    not at all (the run is cancelled with a sentence saying how to answer)."""

    approve_all: bool = False
    ask: Callable[[str, str], tuple[bool, str | None]] | None = None


def _waiting_approvals(run: Run, steps: list[StepRun]) -> list[StepRun]:
    """The approval steps the run waits on now."""
    if run.status != "waiting":
        return []
    return [
        s for s in steps if s.is_current and s.status == "waiting" and s.step_type == "approval"
    ]


def _table(run: Run | None, steps: list[StepRun]) -> Table:
    title = f"run {run.id} — {run.status}" if run else "starting…"
    table = Table(title=title, title_justify="left", expand=False)
    for column in ("step", "status", "attempt", "seconds", "detail"):
        table.add_column(column)
    for s in steps:
        if not s.is_current:
            continue
        seconds = ""
        if s.started_at and s.completed_at:
            seconds = f"{(s.completed_at - s.started_at).total_seconds():.2f}"
        detail = (s.error or "")[:80]
        style = STATUS_STYLE.get(s.status, "")
        table.add_row(s.step_id, f"[{style}]{s.status}[/{style}]", str(s.attempt), seconds, detail)
    return table


def local_settings(data_dir: Path, url: str, console: Console) -> Settings:
    """Settings for a local run: every address allowed unless FLOWDECK_HTTP_ALLOW is set.

    One user on their own machine; with the variable set, that list guards as on a server.
    """
    try:
        settings = Settings(data_dir=data_dir, database_url=url, poll_seconds=0.2)
    except ValidationError as exc:
        problems = [f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()]
        raise InvalidInput("Invalid FLOWDECK_* settings", errors=problems) from None
    if "http_allow" in settings.model_fields_set:
        return settings
    console.print(LOCAL_EGRESS_NOTE, style="dim", highlight=False, soft_wrap=True)
    return settings.model_copy(update={"http_allow": ALLOW_ALL})


async def run_definition(
    definition: dict[str, Any],
    inputs: dict[str, Any],
    console: Console,
    *,
    live: bool = True,
    secrets: dict[str, str] | None = None,
    approvals: Approvals = Approvals(),
) -> tuple[Run, list[StepRun]]:
    """Create the workflow on a temporary SQLite store, run it, show progress, return the end."""
    with tempfile.TemporaryDirectory(prefix="flowdeck-run-") as tmp:
        url = f"sqlite:///{Path(tmp) / 'flowdeck.db'}"
        upgrade(url)
        settings = local_settings(Path(tmp), url, console)
        store = Store.from_url(url)
        services = Services.build(settings, store, SystemClock())
        try:
            await AuthService(store, services.clock).bootstrap(None)
            async with store.read() as tx:
                ws = await tx.get_workspace_by_slug("default")
            assert ws is not None
            me = Principal(
                workspace_id=ws.id, key_id="cli", name="cli", scopes=("workflows:admin",)
            )
            for name, value in (secrets or {}).items():
                await services.admin.put_secret(me, name, value)
            wf = await services.workflows.create(me, definition)
            await services.runtime.start_worker()
            run, _ = await services.runs.start(me, wf.id, input_data=inputs, trigger="manual")
            with Live(
                _table(None, []), console=console, refresh_per_second=10, transient=not live
            ) as view:
                run, steps = await services.runs.get(me, run.id)
                async for _event in services.runs.follow(me, run.id):
                    run, steps = await services.runs.get(me, run.id)
                    view.update(_table(run, steps))
                    for step in _waiting_approvals(run, steps):
                        await _answer(services, me, run, step, approvals, view)
                run, steps = await services.runs.get(me, run.id)
                view.update(_table(run, steps))
            if not live:
                console.print(_table(run, steps))
            return run, steps
        finally:
            await services.runtime.close(graceful=False)
            await store.close()


async def _answer(
    services: Services,
    me: Principal,
    run: Run,
    step: StepRun,
    approvals: Approvals,
    view: Live,
) -> None:
    """Decide a waiting approval as the user said (or cancel the run, saying how to)."""
    message = str((step.state or {}).get("message") or "Approval required")
    approve: bool
    comment: str | None
    if approvals.approve_all:
        approve, comment = True, "approved by flowdeck run --approve-all"
    elif approvals.ask is not None:
        view.stop()  # the prompt needs the terminal
        approve, comment = await asyncio.to_thread(approvals.ask, step.step_id, message)
        view.start()
    else:
        if step.wake_at is not None:
            return  # its timeout decides it
        await services.runs.cancel(me, run.id)
        raise Conflict(
            f"Step '{step.step_id}' waits for an approval: answer it at a terminal, or pass "
            "--approve-all; on a server, decide it with `flowdeck approve` or "
            "POST /api/workflows/runs/{run_id}/steps/{step_id}/approve or /reject"
        )
    await services.approvals.decide(me, run.id, step.step_id, approve=approve, comment=comment)


def run_file(
    definition: dict[str, Any],
    inputs: dict[str, Any],
    console: Console,
    *,
    secrets: dict[str, str] | None = None,
    approvals: Approvals = Approvals(),
) -> tuple[Run, list[StepRun]]:
    """Synchronous entry point for the CLI: the ended run and its step runs."""
    # The progress table tells each step's fate; the engine's warnings would say it twice.
    logging.getLogger("flowdeck").setLevel(logging.ERROR)
    return asyncio.run(
        run_definition(
            definition,
            inputs,
            console,
            live=console.is_terminal,
            secrets=secrets,
            approvals=approvals,
        )
    )


def step_outputs(steps: list[StepRun]) -> dict[str, Any]:
    """What each step produced (its current attempt), for a workflow without `outputs`."""
    return {
        s.step_id: s.output
        for s in steps
        if s.is_current and s.parent_step_id is None and s.status == "completed"
    }
