"""The MCP server driven by the official `mcp` client over streamable HTTP and stdio."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import httpx2
import uvicorn
from mcp import Client, StdioServerParameters
from mcp.client.streamable_http import streamable_http_client
from mcp.types import CallToolResult, TextContent

from flowdeck.api.app import create_app
from flowdeck.domain.clock import SystemClock
from flowdeck.services.auth import AuthService
from flowdeck.store.store import Store
from tests.integration.runs_helpers import settings_for, wait_until

GATE = {
    "name": "Gated",
    "description": "Builds, waits for a person, ships",
    "inputs": [{"name": "version", "type": "string", "required": True}],
    "steps": [
        {"id": "build", "type": "transform", "config": {"value": "built {{ inputs.version }}"}},
        {
            "id": "review",
            "type": "approval",
            "config": {"message": "Ship {{ inputs.version }}?"},
            "depends_on": ["build"],
        },
        {
            "id": "ship",
            "type": "transform",
            "config": {"value": "shipped"},
            "depends_on": ["review"],
            "cost": 0.5,
        },
    ],
}


@dataclass
class Live:
    """A Flowdeck server listening on a real port."""

    url: str
    key: str


@contextlib.asynccontextmanager
async def live_server(store: Store, database_url: str, tmp_path: Path) -> AsyncIterator[Live]:
    """The app served by uvicorn on 127.0.0.1 (the MCP client speaks real HTTP)."""
    key = await AuthService(store, SystemClock()).bootstrap(None)
    assert key is not None
    # A socket bound here and handed over: no other test (in another xdist worker) can take
    # the port between choosing it and listening on it.
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    app = create_app(settings_for(database_url, tmp_path), store=store)
    config = uvicorn.Config(app, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    await wait_until(lambda: _started(server))
    try:
        yield Live(url=f"http://127.0.0.1:{port}", key=key)
    finally:
        server.should_exit = True
        await task
        sock.close()


async def _started(server: uvicorn.Server) -> bool:
    return server.started


@contextlib.asynccontextmanager
async def http_client(live: Live, key: str | None = None) -> AsyncIterator[Client]:
    """The official client over streamable HTTP with a Bearer key."""
    headers = {"Authorization": f"Bearer {key or live.key}"}
    async with httpx2.AsyncClient(headers=headers, timeout=30) as http:
        transport = streamable_http_client(f"{live.url}/mcp", http_client=http)
        async with Client(transport) as client:
            yield client


def _flowdeck_command() -> tuple[str, list[str]]:
    script = Path(sys.executable).parent / "flowdeck"
    if script.exists():
        return str(script), []
    return sys.executable, ["-m", "flowdeck"]


def stdio_client(*args: str) -> Client:
    """The official client over stdio, spawning `flowdeck mcp ARGS`."""
    command, prefix = _flowdeck_command()
    env = {k: v for k, v in os.environ.items() if k in ("PYTHONPATH",)}
    return Client(StdioServerParameters(command=command, args=[*prefix, "mcp", *args], env=env))


def data(result: CallToolResult) -> Any:
    """The JSON a tool answered (also checks the text content says the same)."""
    assert not result.is_error, _text(result)
    parsed = json.loads(_text(result))
    if result.structured_content is not None:
        assert result.structured_content == parsed
    return parsed


def _text(result: CallToolResult) -> str:
    block = result.content[0]
    assert isinstance(block, TextContent)
    return block.text


async def call(client: Client, tool: str, **arguments: Any) -> CallToolResult:
    return await client.call_tool(tool, arguments)


async def wait_status(client: Client, run_id: str, wanted: set[str]) -> Any:
    """Poll get_workflow_run until the run's status is one of `wanted`."""

    async def check() -> Any:
        run = data(await call(client, "get_workflow_run", run_id=run_id))["run"]
        return run if run["status"] in wanted else None

    return await wait_until(check)


async def _drive(client: Client, name: str) -> None:
    """The same conversation over any transport: create, run, approve, read, errors."""
    created = data(
        await call(client, "manage_workflows", action="create", name=name, definition=GATE)
    )
    wf = created["workflow"]
    assert wf["name"] == name and wf["id"].startswith("wf_") and wf["version"] == 1

    listed = data(await call(client, "manage_workflows", action="list"))
    assert name in [w["name"] for w in listed["workflows"]]

    plan = data(
        await call(
            client,
            "manage_workflows",
            action="run",
            workflow_id=wf["id"],
            inputs={"version": "2.0"},
            dry_run=True,
        )
    )["workflow"]
    assert plan["status"] == "dry_run" and plan["valid"] is True
    assert plan["estimated_cost"] == 0.5 and plan["plan"] == [["build"], ["review"], ["ship"]]

    started = data(
        await call(
            client,
            "manage_workflows",
            action="run",
            workflow_id=wf["slug"],
            inputs={"version": "2.0"},
            team_id="default",
            project_id="default",
        )
    )
    assert set(started) == {"workflow"}
    assert set(started["workflow"]) == {"id", "status", "jobId"}
    assert started["workflow"]["id"] == wf["id"]
    job = started["workflow"]["jobId"]
    assert job.startswith("run_")

    run = await wait_status(client, job, {"waiting"})
    review = next(s for s in run["step_runs"] if s["step_id"] == "review")
    assert review["status"] == "waiting"

    decided = data(
        await call(
            client,
            "manage_workflows",
            action="approve",
            workflow_id=wf["id"],
            workflow_job_id=job,
            node_id="review",
            comment="ship it",
        )
    )
    assert decided["workflow"]["jobId"] == job
    assert decided["approval"]["approved"] is True and decided["approval"]["by"] == "admin"
    assert decided["approval"]["comment"] == "ship it"

    run = await wait_status(client, job, {"completed", "failed"})
    assert run["status"] == "completed"
    outputs = {s["step_id"]: s["output"] for s in run["step_runs"]}
    assert outputs["build"] == "built 2.0" and outputs["ship"] == "shipped"
    assert run["cost"] == 0.0 or run["cost"] >= 0

    again = await call(
        client,
        "manage_workflows",
        action="reject",
        workflow_id=wf["id"],
        workflow_job_id=job,
        node_id="review",
    )
    assert again.is_error
    assert _text(again) == f"Step 'review' of run '{job}' was already decided (approved)"

    missing = await call(client, "manage_workflows", action="get", workflow_id="nope")
    assert missing.is_error and _text(missing) == "Workflow 'nope' not found"

    incomplete = await call(client, "manage_workflows", action="approve", workflow_id=wf["id"])
    assert incomplete.is_error
    assert "workflow_job_id (the run id) is required for action 'approve'" in _text(incomplete)

    invalid = await call(
        client,
        "manage_workflows",
        action="create",
        definition={
            "name": "Broken",
            "steps": [
                {"id": "notify", "type": "transform", "config": {"value": 1}, "depends_on": ["x"]}
            ],
        },
    )
    assert invalid.is_error
    assert "- Step 'notify' depends on 'x' which doesn't exist" in _text(invalid)

    wrong_team = await call(client, "manage_workflows", action="list", team_id="team_xyz")
    assert wrong_team.is_error
    assert _text(wrong_team).startswith("Team 'team_xyz' is not the workspace this API key")
    no_project = data(await call(client, "manage_workflows", action="list", project_id="proj_xyz"))
    assert no_project["workflows"] == [] and no_project["total"] == 0

    shown = await call(
        client, "manage_workflows", action="get", workflow_id=wf["id"], response_format="markdown"
    )
    assert not shown.is_error and shown.structured_content is None
    assert f"## {name} ({wf['id']})" in _text(shown) and "| review | approval |" in _text(shown)

    run_md = await call(client, "get_workflow_run", run_id=job, response_format="markdown")
    assert f"## Run {job}: **completed**" in _text(run_md)

    updated = data(
        await call(
            client,
            "manage_workflows",
            action="update",
            workflow_id=wf["id"],
            description="Now with a new description",
        )
    )
    assert updated["workflow"]["description"] == "Now with a new description"

    deleted = data(await call(client, "manage_workflows", action="delete", workflow_id=wf["id"]))
    assert deleted["workflow"]["id"] == wf["id"] and deleted["workflow"]["status"] == "deleted"


async def test_tools_over_streamable_http(store: Store, database_url: str, tmp_path: Path) -> None:
    async with live_server(store, database_url, tmp_path) as live:
        async with http_client(live) as client:
            tools = {t.name: t for t in (await client.list_tools()).tools}
            assert set(tools) == {"manage_workflows", "get_workflow_run"}
            schema = tools["manage_workflows"].input_schema
            assert schema["required"] == ["action"]
            assert set(schema["properties"]) >= {
                "action",
                "workflow_id",
                "name",
                "description",
                "definition",
                "inputs",
                "dry_run",
                "workflow_job_id",
                "node_id",
                "team_id",
                "project_id",
                "response_format",
            }
            actions = json.dumps(schema["properties"]["action"])
            for action in ("list", "get", "create", "update", "delete", "run", "approve", "reject"):
                assert f'"{action}"' in actions
            await _drive(client, "Gated over HTTP")

        async with httpx.AsyncClient() as plain:
            body = {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}}
            anonymous = await plain.post(f"{live.url}/mcp", json=body)
            assert anonymous.status_code == 401
            assert anonymous.headers["www-authenticate"].startswith("Bearer")
            wrong = await plain.post(
                f"{live.url}/mcp", json=body, headers={"Authorization": "Bearer fdk_wrong"}
            )
            assert wrong.status_code == 401
            assert wrong.json()["detail"] == "The API key is invalid or revoked"

        reader = await _key(store, "reader", "workflows:read")
        async with http_client(live, reader) as client:
            refused = await call(client, "manage_workflows", action="create", definition=GATE)
            assert refused.is_error
            assert _text(refused) == "This API key lacks the 'workflows:write' scope"
            assert not (await call(client, "manage_workflows", action="list")).is_error


async def _key(store: Store, name: str, *scopes: str) -> str:
    auth = AuthService(store, SystemClock())
    async with store.read() as tx:
        ws = await tx.get_workspace_by_slug("default")
    assert ws is not None
    _, secret = await auth.create_key(ws.id, name, scopes)
    return secret


async def test_tools_over_stdio_against_a_server(
    store: Store, database_url: str, tmp_path: Path
) -> None:
    async with (
        live_server(store, database_url, tmp_path) as live,
        stdio_client("--server", live.url, "--api-key", live.key) as client,
    ):
        await _drive(client, "Gated over stdio")


async def test_tools_over_stdio_on_a_local_database(
    store: Store, database_url: str, tmp_path: Path
) -> None:
    key = await AuthService(store, SystemClock()).bootstrap(None)
    assert key is not None
    args = ["--data-dir", str(tmp_path / "local"), "--database-url", database_url]
    async with stdio_client(*args, "--api-key", key) as client:
        created = data(await call(client, "manage_workflows", action="create", definition=GATE))
        started = data(
            await call(
                client,
                "manage_workflows",
                action="run",
                workflow_id=created["workflow"]["id"],
                inputs={"version": "3"},
            )
        )
        job = started["workflow"]["jobId"]
        run = await wait_status(client, job, {"waiting"})  # the local worker ran `build`
        assert {s["step_id"]: s["status"] for s in run["step_runs"]}["build"] == "completed"
        rejected = data(
            await call(
                client,
                "manage_workflows",
                action="reject",
                workflow_id=created["workflow"]["id"],
                workflow_job_id=job,
                node_id="review",
                comment="no",
            )
        )
        assert rejected["approval"]["approved"] is False
        run = await wait_status(client, job, {"failed", "completed"})
        assert run["status"] == "failed"
        assert run["error"] == "Step 'review' failed: Rejected by admin: no"
