"""`flowdeck runs list|get|watch|cancel|resume`, `flowdeck approve`, and the server half of
`flowdeck run`."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from flowdeck.cli.common import out
from flowdeck.cli.remote import (
    ApiKey,
    AsJson,
    Profile,
    Server,
    answering,
    open_client,
    resolve,
)

runs_app = typer.Typer(help="Runs on a server.", no_args_is_help=True)

RunId = Annotated[str, typer.Argument(help="Run id")]
Timeout = Annotated[
    float | None, typer.Option("--timeout", help="Give up after this many seconds (exit 124)")
]


@runs_app.command("list")
def list_runs(
    workflow: Annotated[
        str | None, typer.Option("--workflow", "-w", help="Only this workflow's (id or slug)")
    ] = None,
    status: Annotated[str | None, typer.Option(help="queued, running, failed…")] = None,
    trigger: Annotated[str | None, typer.Option(help="manual, api, schedule, webhook…")] = None,
    since: Annotated[str | None, typer.Option(help="Created at or after (ISO 8601)")] = None,
    until: Annotated[str | None, typer.Option(help="Created before (ISO 8601)")] = None,
    limit: Annotated[int, typer.Option(min=1, max=200, help="At most this many")] = 50,
    cursor: Annotated[str | None, typer.Option(help="Where the last page left off")] = None,
    server: Server = None,
    api_key: ApiKey = None,
    profile: Profile = None,
    as_json: AsJson = False,
) -> None:
    """List runs, newest first: a workflow's, or the whole workspace's."""
    from flowdeck.cli import render

    with answering(as_json), open_client(resolve(server, api_key, profile)) as client:
        page = client.runs.list(
            workflow,
            status=status,
            trigger=trigger,
            since=since,
            until=until,
            cursor=cursor,
            limit=limit,
        )
    if as_json:
        render.print_json({"runs": page.items, "next_cursor": page.next_cursor})
    else:
        out.print(render.runs_table(page.items, page.next_cursor))


@runs_app.command("get")
def get_run(
    run_id: RunId,
    server: Server = None,
    api_key: ApiKey = None,
    profile: Profile = None,
    as_json: AsJson = False,
) -> None:
    """Show a run and its steps."""
    from flowdeck.cli import render

    with answering(as_json), open_client(resolve(server, api_key, profile)) as client:
        run = client.runs.get(run_id)
    if as_json:
        render.print_json(run)
    else:
        out.print(render.run_table(run))
        if run.ended and run.status == "completed":
            out.print_json(json.dumps(run.output, default=str))


@runs_app.command("watch")
def watch_run(
    run_id: RunId,
    approve_all: Annotated[
        bool, typer.Option("--approve-all", help="Approve every approval step it waits on")
    ] = False,
    timeout: Timeout = None,
    server: Server = None,
    api_key: ApiKey = None,
    profile: Profile = None,
    as_json: AsJson = False,
) -> None:
    """Follow a run live until it ends; exit 1 when it fails or is cancelled.

    With --json, each event is printed as one JSON line as it happens.
    """
    from flowdeck.cli.watch import finish, watch

    target = resolve(server, api_key, profile)
    with answering(as_json):
        run = watch(target, run_id, approve_all=approve_all, timeout=timeout, as_json=as_json)
    finish(run, as_json=as_json, events_printed=as_json)


@runs_app.command("cancel")
def cancel_run(
    run_id: RunId,
    server: Server = None,
    api_key: ApiKey = None,
    profile: Profile = None,
    as_json: AsJson = False,
) -> None:
    """Cancel an active run."""
    from flowdeck.cli import render

    with answering(as_json), open_client(resolve(server, api_key, profile)) as client:
        run = client.runs.cancel(run_id)
    if as_json:
        render.print_json(run)
    else:
        out.print(f"run {run.id} is {render.styled(run.status)}", highlight=False)


def _version(value: str | None) -> int | str | None:
    if value is None or value == "latest":
        return value
    if value.isdigit() and int(value) > 0:
        return int(value)
    raise typer.BadParameter("a version number, or 'latest'", param_hint="--version")


@runs_app.command("resume")
def resume_run(
    run_id: RunId,
    from_step: Annotated[
        str | None,
        typer.Option("--from-step", help="Rerun this step and everything after it"),
    ] = None,
    version: Annotated[
        str | None,
        typer.Option("--version", help="Run on this workflow version, or 'latest'"),
    ] = None,
    server: Server = None,
    api_key: ApiKey = None,
    profile: Profile = None,
    as_json: AsJson = False,
) -> None:
    """Resume a failed or paused run (every step that did not complete, or from a step)."""
    from flowdeck.cli import render

    chosen = _version(version)
    with answering(as_json), open_client(resolve(server, api_key, profile)) as client:
        run = client.runs.resume(run_id, from_step=from_step, version=chosen)
    if as_json:
        render.print_json(run)
    else:
        out.print(
            f"run {run.id} is {render.styled(run.status)} (version {run.workflow_version})",
            highlight=False,
        )


def approve_command(
    run_id: RunId,
    step_id: Annotated[str, typer.Argument(help="The approval step's id")],
    reject: Annotated[bool, typer.Option("--reject", help="Reject instead of approve")] = False,
    comment: Annotated[str | None, typer.Option("--comment", "-m", help="Why")] = None,
    server: Server = None,
    api_key: ApiKey = None,
    profile: Profile = None,
    as_json: AsJson = False,
) -> None:
    """Approve (or --reject) an approval step a run waits on."""
    from flowdeck.cli import render

    with answering(as_json), open_client(resolve(server, api_key, profile)) as client:
        if reject:
            decision = client.approvals.reject(run_id, step_id, comment)
        else:
            decision = client.approvals.approve(run_id, step_id, comment)
    if as_json:
        render.print_json(decision)
    else:
        out.print(render.decision_line(decision), highlight=False)


def approvals_command(
    workflow: Annotated[
        str | None, typer.Option("--workflow", "-w", help="Only this workflow's")
    ] = None,
    server: Server = None,
    api_key: ApiKey = None,
    profile: Profile = None,
    as_json: AsJson = False,
) -> None:
    """List the approval steps waiting for a decision."""
    from flowdeck.cli import render

    with answering(as_json), open_client(resolve(server, api_key, profile)) as client:
        page = client.approvals.list(workflow, limit=200)
    if as_json:
        render.print_json({"approvals": page.items, "next_cursor": page.next_cursor})
    else:
        out.print(render.approvals_table(page.items, page.next_cursor))
