"""`flowdeck workflows list|get|delete` and `flowdeck apply`, against a server."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from flowdeck.cli.common import out
from flowdeck.cli.remote import ApiKey, AsJson, Profile, Server, answering, open_client, resolve

workflows_app = typer.Typer(help="Workflows on a server.", no_args_is_help=True)

WorkflowName = Annotated[str, typer.Argument(help="Workflow id or slug")]


@workflows_app.command("list")
def list_workflows(
    status: Annotated[str | None, typer.Option(help="active, paused, draft…")] = None,
    tag: Annotated[str | None, typer.Option(help="Only workflows with this tag")] = None,
    search: Annotated[str | None, typer.Option("--search", "-q", help="Text to look for")] = None,
    limit: Annotated[int, typer.Option(min=1, max=200, help="At most this many")] = 50,
    cursor: Annotated[str | None, typer.Option(help="Where the last page left off")] = None,
    server: Server = None,
    api_key: ApiKey = None,
    profile: Profile = None,
    as_json: AsJson = False,
) -> None:
    """List the workspace's workflows, newest first."""
    from flowdeck.cli import render

    with answering(as_json), open_client(resolve(server, api_key, profile)) as client:
        page = client.workflows.list(status=status, tag=tag, q=search, cursor=cursor, limit=limit)
    if as_json:
        render.print_json({"workflows": page.items, "next_cursor": page.next_cursor})
    else:
        out.print(render.workflows_table(page.items, page.next_cursor))


@workflows_app.command("get")
def get_workflow(
    workflow: WorkflowName,
    definition: Annotated[
        bool,
        typer.Option("--definition", help="Print only the definition (YAML; JSON with --json)"),
    ] = False,
    server: Server = None,
    api_key: ApiKey = None,
    profile: Profile = None,
    as_json: AsJson = False,
) -> None:
    """Show one workflow."""
    from flowdeck.cli import render

    with answering(as_json), open_client(resolve(server, api_key, profile)) as client:
        wf = client.workflows.get(workflow)
    if definition:
        if as_json:
            render.print_json(wf.definition)
        else:
            import yaml

            text = yaml.safe_dump(wf.definition, sort_keys=False, allow_unicode=True)
            out.print(text, end="", markup=False, highlight=False, soft_wrap=True)
    elif as_json:
        render.print_json(wf)
    else:
        out.print(render.workflow_table(wf))


@workflows_app.command("delete")
def delete_workflow(
    workflow: WorkflowName,
    permanent: Annotated[
        bool, typer.Option("--permanent", help="Delete for good (admin) instead of the trash")
    ] = False,
    cascade: Annotated[
        bool, typer.Option("--cascade", help="With --permanent: delete its runs too")
    ] = False,
    server: Server = None,
    api_key: ApiKey = None,
    profile: Profile = None,
    as_json: AsJson = False,
) -> None:
    """Move a workflow to the trash (restorable), or delete it for good with --permanent."""
    from flowdeck.cli import render

    with answering(as_json), open_client(resolve(server, api_key, profile)) as client:
        deleted = client.workflows.delete(workflow, permanent=permanent, cascade=cascade)
    if as_json:
        render.print_json(deleted)
    elif permanent:
        out.print(f"{deleted.id} deleted for good", highlight=False)
    else:
        out.print(f"{deleted.id} moved to the trash (purged {deleted.purge_at})", highlight=False)


def apply_command(
    file: Annotated[Path, typer.Argument(help="Definition file (YAML or JSON)")],
    server: Server = None,
    api_key: ApiKey = None,
    profile: Profile = None,
    as_json: AsJson = False,
) -> None:
    """Create the workflow a file defines on a server, or update it; matched on its `slug`.

    The file may carry `slug`, `tags`, `trigger_type`, `visibility` and `schedules` at the
    top. Without `slug`, the one derived from `name` at creation is looked for. Prints what
    changed (fields, new version, schedules).
    """
    from flowdeck.cli import render

    with answering(as_json), open_client(resolve(server, api_key, profile)) as client:
        applied = client.workflows.apply(file)
    if as_json:
        render.print_json(applied)
        return
    for line in render.applied_lines(applied):
        out.print(line, highlight=False, markup=False)
