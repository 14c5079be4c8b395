"""Seed 004: `manage_workflows` as its document shows it (a run answers `running` once admitted;
`team_id` is the workspace, `project_id` a project that list, create and run are scoped to),
and projects in the REST API (`/api/projects`, `GET /api/workflows?project=…`)."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import uvicorn

from flowdeck.api.app import create_app
from flowdeck.domain.clock import SystemClock
from flowdeck.services.auth import AuthService
from flowdeck.store.store import Store
from tests.integration.conftest import Api
from tests.integration.runs_helpers import settings_for, wait_until
from tests.integration.test_mcp import Live, call, data, http_client
from tests.support.llm import Scripted, fake_llm

HERO = {
    "name": "Hero pipeline",
    "inputs": [
        {"name": "prompt", "type": "string", "required": True},
        {"name": "style_model_id", "type": "string"},
    ],
    "steps": [
        {
            "id": "portrait",
            "type": "agent_task",
            "config": {"agent_id": "painter", "goal": "{{ inputs.prompt }}"},
        }
    ],
}


async def _project(api: Api, name: str, headers: dict[str, str] | None = None) -> dict[str, Any]:
    r = await api.client.post("/api/projects", headers=headers or api.headers, json={"name": name})
    assert r.status_code == 201, r.text
    project: dict[str, Any] = r.json()["project"]
    return project


async def test_projects_in_the_rest_api(api: Api) -> None:
    hero = await _project(api, "Heroes")
    assert hero["id"].startswith("proj_")
    dup = await api.client.post("/api/projects", headers=api.headers, json={"name": "Heroes"})
    assert dup.status_code == 409
    listed = await api.client.get("/api/projects", headers=api.headers)
    assert [p["name"] for p in listed.json()["projects"]] == ["Heroes"]
    inside = {"name": "Inside", "steps": [{"id": "a", "type": "transform", "config": {"value": 1}}]}
    r = await api.client.post(
        "/api/workflows", headers=api.headers, json={"definition": inside, "project_id": "Heroes"}
    )
    assert r.status_code == 201, r.text
    assert r.json()["workflow"]["project_id"] == hero["id"]
    outside = {**inside, "name": "Outside"}
    await api.client.post("/api/workflows", headers=api.headers, json={"definition": outside})
    for ref in (hero["id"], "Heroes"):
        r = await api.client.get("/api/workflows", headers=api.headers, params={"project": ref})
        assert [w["name"] for w in r.json()["workflows"]] == ["Inside"]
    missing = await api.client.get("/api/workflows", headers=api.headers, params={"project": "x"})
    assert missing.status_code == 404
    moved = await api.client.put(
        "/api/workflows/outside", headers=api.headers, json={"project_id": hero["id"]}
    )
    assert moved.status_code == 200 and moved.json()["project_id"] == hero["id"]
    out = await api.client.put(
        "/api/workflows/inside", headers=api.headers, json={"project_id": None}
    )
    assert out.json()["project_id"] is None
    # Another workspace neither sees the project nor can use it.
    other = await api.other_workspace()
    assert (await api.client.get(f"/api/projects/{hero['id']}", headers=other)).status_code == 404
    r = await api.client.post(
        "/api/workflows",
        headers=other,
        json={"definition": inside, "project_id": hero["id"]},
    )
    assert r.status_code == 404
    assert (await api.client.get("/api/projects")).status_code == 401
    reader = await api.key_with("workflows:read")
    assert (
        await api.client.post("/api/projects", headers=reader, json={"name": "No"})
    ).status_code == 403


@contextlib.asynccontextmanager
async def _live(
    store: Store, database_url: str, tmp_path: Path, llm_url: str
) -> AsyncIterator[Live]:
    key = await AuthService(store, SystemClock()).bootstrap(None)
    assert key is not None
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    app = create_app(settings_for(database_url, tmp_path, llm_base_url=llm_url), store=store)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    task = asyncio.create_task(server.serve(sockets=[sock]))

    async def started() -> bool:
        return server.started

    await wait_until(started)
    try:
        yield Live(url=f"http://127.0.0.1:{port}", key=key)
    finally:
        server.should_exit = True
        await task
        sock.close()


async def test_manage_workflows_scoped_to_a_team_and_project(
    store: Store, database_url: str, tmp_path: Path
) -> None:
    async with (
        fake_llm() as llm,
        _live(store, database_url, tmp_path, llm.url()) as live,
        http_client(live) as client,
    ):
        # The REST API makes the project and the agent; the tool does the rest.
        headers = {"Authorization": f"Bearer {live.key}"}
        async with httpx.AsyncClient(base_url=live.url, headers=headers) as rest:
            project = (await rest.post("/api/projects", json={"name": "Heroes"})).json()["project"]
            agent = {"name": "painter", "model": "fake-model", "instructions": "Paint."}
            assert (await rest.post("/api/agents", json=agent)).status_code == 201
            ws = (await rest.get("/api/me")).json()["workspace"]
        team, proj = ws["slug"], project["id"]

        created = data(
            await call(
                client,
                "manage_workflows",
                action="create",
                definition=HERO,
                team_id=team,
                project_id=proj,
            )
        )["workflow"]
        assert created["project_id"] == proj
        data(
            await call(
                client,
                "manage_workflows",
                action="create",
                definition={**HERO, "name": "Elsewhere"},
            )
        )
        scoped = data(
            await call(client, "manage_workflows", action="list", team_id=team, project_id=proj)
        )
        assert [w["name"] for w in scoped["workflows"]] == ["Hero pipeline"]
        everything = data(await call(client, "manage_workflows", action="list"))
        assert everything["total"] == 2

        # The seed's example request, with this workspace's ids: `running` once admitted.
        llm.then(Scripted("a portrait", delay=3.0))
        started = data(
            await call(
                client,
                "manage_workflows",
                action="run",
                workflow_id=created["id"],
                inputs={
                    "prompt": "epic fantasy hero portrait",
                    "style_model_id": "model_custom_abc",
                },
                team_id=team,
                project_id=proj,
            )
        )
        assert set(started) == {"workflow"}
        assert started["workflow"]["id"] == created["id"]
        assert started["workflow"]["status"] == "running"
        assert started["workflow"]["jobId"].startswith("run_")

        outside = await call(
            client,
            "manage_workflows",
            action="run",
            workflow_id="elsewhere",
            inputs={"prompt": "x"},
            project_id=proj,
        )
        assert outside.is_error
        wrong_team = await call(client, "manage_workflows", action="list", team_id="team_abc123")
        assert wrong_team.is_error
