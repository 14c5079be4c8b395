"""The MCP server (official `mcp` SDK): two tools over a Backend chosen per request."""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from mcp.server.mcpserver import Context, MCPServer
from mcp.types import CallToolResult, TextContent, ToolAnnotations
from pydantic import Field

from flowdeck import __version__
from flowdeck.errors import FlowdeckError
from flowdeck.mcp.backend import Backend
from flowdeck.mcp.tools import (
    MANAGE_DESCRIPTION,
    RUN_DESCRIPTION,
    Action,
    ResponseFormat,
    error_text,
    manage_workflows,
    run_markdown,
    workflows_markdown,
)

BackendFor = Callable[[Context], Awaitable[Backend]]
INSTRUCTIONS = (
    "Flowdeck runs workflows: DAGs of typed steps. Use manage_workflows to list, create, "
    "update, delete, run (or dry-run) workflows and to approve or reject waiting approval "
    "steps; use get_workflow_run to follow a run and read its step outputs."
)


def _result(data: dict[str, Any], fmt: str, markdown: Callable[[dict[str, Any]], str]) -> Any:
    if fmt == "markdown":
        return CallToolResult(content=[TextContent(type="text", text=markdown(data))])
    text = json.dumps(data, ensure_ascii=False, indent=2)
    return CallToolResult(content=[TextContent(type="text", text=text)], structured_content=data)


def _error(exc: FlowdeckError) -> CallToolResult:
    """A tool error (is_error) carrying exactly the REST API's sentences."""
    return CallToolResult(content=[TextContent(type="text", text=error_text(exc))], is_error=True)


class FlowdeckTools:
    """The tool functions; `backend_for` says whom a request acts as."""

    def __init__(self, backend_for: BackendFor) -> None:
        self.backend_for = backend_for

    async def manage_workflows(
        self,
        ctx: Context,
        action: Annotated[
            Action,
            Field(
                description="Workflow action: list, get, create, update, delete, run, "
                "approve, or reject."
            ),
        ],
        workflow_id: Annotated[
            str | None, Field(description="Workflow ID (required for most actions).")
        ] = None,
        name: Annotated[str | None, Field(description="Workflow name (for create/update).")] = None,
        description: Annotated[
            str | None, Field(description="Workflow description (for create/update).")
        ] = None,
        definition: Annotated[
            dict[str, Any] | str | None,
            Field(description="Workflow definition (for create/update)."),
        ] = None,
        inputs: Annotated[dict[str, Any] | None, Field(description="Input values for run.")] = None,
        dry_run: Annotated[bool | None, Field(description="Estimate cost without running.")] = None,
        workflow_job_id: Annotated[
            str | None, Field(description="Job ID (for approve/reject): the run id.")
        ] = None,
        node_id: Annotated[
            str | None, Field(description="Node ID (for approve/reject): the approval step id.")
        ] = None,
        comment: Annotated[
            str | None, Field(description="Why (for approve/reject); recorded with the decision.")
        ] = None,
        team_id: Annotated[
            str | None,
            Field(description="Team ID: a team is a workspace (the API key's, by id or slug)."),
        ] = None,
        project_id: Annotated[
            str | None,
            Field(
                description="Project ID to scope the operation to (list, create, run): a "
                "project of the workspace."
            ),
        ] = None,
        response_format: Annotated[
            ResponseFormat,
            Field(
                description="Output format: 'json' for structured data, 'markdown' for "
                "human-readable text."
            ),
        ] = "json",
    ) -> CallToolResult:
        """manage_workflows (seed 004)."""
        try:
            backend = await self.backend_for(ctx)
            data = await manage_workflows(
                backend,
                action,
                workflow_id=workflow_id,
                name=name,
                description=description,
                definition=definition,
                inputs=inputs,
                dry_run=dry_run,
                workflow_job_id=workflow_job_id,
                node_id=node_id,
                comment=comment,
                project_id=project_id,
                team_id=team_id,
            )
        except FlowdeckError as exc:
            return _error(exc)
        result: CallToolResult = _result(data, response_format, workflows_markdown)
        return result

    async def get_workflow_run(
        self,
        ctx: Context,
        run_id: Annotated[str, Field(description="The run id (the jobId of a run).")],
        response_format: Annotated[
            ResponseFormat, Field(description="'json' (structured) or 'markdown' (readable).")
        ] = "json",
    ) -> CallToolResult:
        """get_workflow_run."""
        try:
            backend = await self.backend_for(ctx)
            data = await backend.get_run(run_id)
        except FlowdeckError as exc:
            return _error(exc)
        result: CallToolResult = _result(data, response_format, run_markdown)
        return result


def build_server(backend_for: BackendFor) -> MCPServer:
    """An MCP server with Flowdeck's tools; each call acts through `backend_for(ctx)`."""
    # MCPServer configures the root logger (logging.basicConfig with its own handler);
    # Flowdeck's processes own their logging, so keep it as it was.
    root = logging.getLogger()
    level, handlers = root.level, list(root.handlers)
    try:
        server: MCPServer = MCPServer(
            "flowdeck", title="Flowdeck", instructions=INSTRUCTIONS, version=__version__
        )
    finally:
        root.setLevel(level)
        root.handlers[:] = handlers
    tools = FlowdeckTools(backend_for)
    server.add_tool(
        tools.manage_workflows,
        name="manage_workflows",
        title="Manage Workflows",
        description=MANAGE_DESCRIPTION,
        structured_output=False,
        annotations=ToolAnnotations(destructive_hint=True, open_world_hint=False),
    )
    server.add_tool(
        tools.get_workflow_run,
        name="get_workflow_run",
        title="Get Workflow Run",
        description=RUN_DESCRIPTION,
        structured_output=False,
        annotations=ToolAnnotations(read_only_hint=True, open_world_hint=False),
    )
    return server
