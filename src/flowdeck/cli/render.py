"""How the CLI's server verbs print: rich tables for people, JSON (the server's shapes) for
scripts."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from rich.table import Table

from flowdeck.cli.common import out

if TYPE_CHECKING:
    from flowdeck.client.shapes import Applied, Approval, Decision, Run, Schedule, Workflow

STATUS_STYLE = {
    "completed": "green",
    "active": "green",
    "failed": "red",
    "running": "cyan",
    "waiting": "yellow",
    "paused": "yellow",
    "skipped": "dim",
    "cancelled": "magenta",
    "pending": "dim",
    "queued": "blue",
    "ready": "blue",
    "draft": "dim",
    "archived": "dim",
}


def print_json(value: Any) -> None:
    """`value` as JSON on stdout (plain, so a pipe gets exactly the JSON)."""
    from flowdeck.client.shapes import as_json

    out.print_json(json.dumps(as_json(value), default=str))


def styled(status: str) -> str:
    """A status with its colour."""
    style = STATUS_STYLE.get(status)
    return f"[{style}]{status}[/{style}]" if style else status


def _short(value: Any, width: int = 60) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return text if len(text) <= width else text[: width - 1] + "…"


def _when(stamp: str | None) -> str:
    """An ISO timestamp to the second, without the T and zone noise."""
    return (stamp or "")[:19].replace("T", " ")


def workflows_table(items: Iterable[Workflow], next_cursor: str | None = None) -> Table:
    """Workflows, one a row."""
    table = Table(title_justify="left", caption=_more(next_cursor))
    for column in ("slug", "name", "version", "status", "trigger", "tags", "updated"):
        table.add_column(column)
    for wf in items:
        table.add_row(
            wf.slug,
            wf.name,
            str(wf.version),
            styled(wf.status),
            wf.trigger_type,
            ", ".join(wf.tags),
            _when(wf.updated_at),
        )
    return table


def _more(next_cursor: str | None) -> str | None:
    return f"more: --cursor {next_cursor}" if next_cursor else None


def workflow_table(wf: Workflow) -> Table:
    """One workflow's fields."""
    table = Table(show_header=False, title=f"workflow {wf.slug}", title_justify="left")
    table.add_column("field", style="bold")
    table.add_column("value")
    rows = [
        ("id", wf.id),
        ("name", wf.name),
        ("description", wf.description or ""),
        ("version", str(wf.version)),
        ("status", styled(wf.status)),
        ("trigger", wf.trigger_type),
        ("visibility", wf.visibility),
        ("tags", ", ".join(wf.tags)),
        ("steps", str(len((wf.definition or {}).get("steps") or []) or wf.step_count)),
        ("created", _when(wf.created_at)),
        ("updated", _when(wf.updated_at)),
    ]
    for name, value in rows:
        table.add_row(name, value)
    return table


def runs_table(items: Iterable[Run], next_cursor: str | None = None) -> Table:
    """Runs, one a row."""
    table = Table(title_justify="left", caption=_more(next_cursor))
    for column in ("run", "workflow", "version", "status", "trigger", "created", "seconds"):
        table.add_column(column)
    for run in items:
        table.add_row(
            run.id,
            run.workflow_id,
            str(run.workflow_version or ""),
            styled(run.status),
            run.trigger or "",
            _when(run.created_at),
            "" if run.duration_seconds is None else f"{run.duration_seconds:.2f}",
        )
    return table


def run_table(run: Run | None) -> Table:
    """A run's steps (each one's current attempt) under a title with the run's status."""
    title = f"run {run.id} — {styled(run.status)}" if run else "starting…"
    table = Table(title=title, title_justify="left")
    for column in ("step", "type", "status", "attempt", "seconds", "detail"):
        table.add_column(column)
    for step in run.current_steps() if run else []:
        if step.loop_step_id is not None:
            continue  # a loop's iterations are summed up by the loop step itself
        seconds = "" if step.duration_seconds is None else f"{step.duration_seconds:.2f}"
        table.add_row(
            step.step_id,
            step.type or "",
            styled(step.status),
            str(step.attempt),
            seconds,
            _short(step.error or "", 80),
        )
    if run and run.error:
        table.caption = _short(run.error, 120)
    return table


def approvals_table(items: Iterable[Approval], next_cursor: str | None = None) -> Table:
    """Approval steps waiting for a decision."""
    table = Table(title_justify="left", caption=_more(next_cursor))
    for column in ("run", "step", "workflow", "message", "requested", "expires"):
        table.add_column(column)
    for a in items:
        table.add_row(
            a.run_id,
            a.step_id,
            a.workflow_slug or a.workflow_id or "",
            _short(a.message or "", 50),
            _when(a.requested_at),
            _when(a.expires_at),
        )
    return table


def schedules_table(items: Iterable[Schedule]) -> Table:
    """Schedules, one a row."""
    table = Table(title_justify="left")
    for column in ("schedule", "cron", "timezone", "enabled", "next run"):
        table.add_column(column)
    for s in items:
        table.add_row(
            s.id, s.cron_expression, s.timezone, "yes" if s.enabled else "no", _when(s.next_run_at)
        )
    return table


def decision_line(d: Decision) -> str:
    """One sentence for an approve or reject."""
    verb = "approved" if d.approved else "rejected"
    return f"Step '{d.step_id}' of run {d.run_id} {verb}; the run is {d.run_status}"


def applied_lines(applied: Applied) -> list[str]:
    """What `apply` did, a line each."""
    wf = applied.workflow
    if applied.created:
        lines = [f"{wf.slug} ({wf.id}) created at version {wf.version}"]
    elif applied.unchanged:
        lines = [f"{wf.slug} ({wf.id}) is unchanged at version {wf.version}"]
    else:
        moved = (
            f"updated to version {wf.version} (was {applied.previous_version})"
            if applied.previous_version != wf.version
            else f"updated, still at version {wf.version}"
        )
        lines = [f"{wf.slug} ({wf.id}) {moved}"]
        if applied.changed:
            lines.append(f"  changed: {', '.join(applied.changed)}")
    lines += [f"  schedule added: {s}" for s in applied.schedules_added]
    lines += [f"  schedule removed: {s}" for s in applied.schedules_removed]
    return lines
