"""Runs started through the API meet the egress guard as an operator deploys it (SPEC §9)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from flowdeck.config import Settings
from flowdeck.engine.egress import UNREACHABLE
from flowdeck.store.store import Store
from tests.integration.conftest import Api
from tests.integration.runs_helpers import current, http_get, run_to_end, serve, settings_for
from tests.support.llm import fake_llm
from tests.support.peer import Reply, running_peer


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    """The default policy: FLOWDECK_HTTP_ALLOW unset, loopback refused."""
    return Settings(data_dir=tmp_path / "data", database_url=database_url)


async def test_a_run_cannot_read_a_loopback_metrics_endpoint(api: Api) -> None:
    # Stands for the server's own /metrics on its loopback port.
    async with running_peer() as server:
        server.replies["/metrics"] = Reply(body="flowdeck_runs_total 3")
        server.replies["/go"] = Reply(status=302, headers={"Location": server.url("/metrics")})
        steps = [http_get("direct", server.url("/metrics")), http_get("hop", server.url("/go"))]
        run = await run_to_end(api, {"name": "Probe", "steps": steps})
    assert run["status"] == "failed"
    assert current(run, "direct")["error"] == f"GET {server.url('/metrics')} failed: {UNREACHABLE}"
    assert current(run, "hop")["error"] == f"GET {server.url('/go')} failed: {UNREACHABLE}"
    assert server.requests == []


async def _agent(api: Api, **fields: Any) -> str:
    body = {"name": "Helper", "model": "fake-model", **fields}
    resp = await api.client.post("/api/agents", json=body, headers=api.headers)
    assert resp.status_code == 201, resp.text
    return str(resp.json()["agent"]["id"])


def ask(agent_id: str) -> dict[str, Any]:
    step = {"id": "ask", "type": "agent_task", "config": {"agent_id": agent_id, "goal": "hi"}}
    return {"name": f"Ask {agent_id}", "steps": [step]}


async def test_the_operators_llm_is_reachable_but_an_agents_own_loopback_url_is_not(
    store: Store, database_url: str, tmp_path: Path
) -> None:
    async with fake_llm() as operator, fake_llm() as elsewhere:
        settings = settings_for(database_url, tmp_path, http_allow="", llm_base_url=operator.url())
        async with serve(settings, store) as api:
            plain = await _agent(api)
            own = await _agent(api, name="Own", base_url=elsewhere.url())

            done = await run_to_end(api, ask(plain))
            refused = await run_to_end(api, ask(own))
    assert done["status"] == "completed", done["error"]
    assert len(operator.requests) == 1
    assert refused["status"] == "failed"
    endpoint = f"{elsewhere.url()}/chat/completions"
    assert current(refused, "ask")["error"] == f"POST {endpoint} failed: {UNREACHABLE}"
    assert elsewhere.requests == []
