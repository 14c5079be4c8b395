"""`{{ secrets.NAME }}` reaches the step that asks for it and is masked everywhere it is stored
or sent: step outputs, errors, events, run outputs."""

from __future__ import annotations

import json

from tests.integration.conftest import Api
from tests.integration.runs_helpers import http_peer, run_to_end, transform, wait_for_run
from tests.unit.step_helpers import Reply

TOKEN = "tok-9f8e7d6c5b4a"


async def _put(api: Api, name: str, value: str) -> None:
    resp = await api.client.put(f"/api/secrets/{name}", json={"value": value}, headers=api.headers)
    assert resp.status_code in (200, 201)


async def test_secret_is_sent_but_never_stored(api: Api) -> None:
    await _put(api, "API_TOKEN", TOKEN)
    async with http_peer() as (peer, book):
        book["/echo"] = Reply(status=200, body={"seen": TOKEN})
        definition = {
            "name": "Uses a secret",
            "steps": [
                {
                    "id": "call",
                    "type": "http_request",
                    "config": {
                        "url": peer.url("/echo"),
                        "headers": {"Authorization": "Bearer {{ secrets.API_TOKEN }}"},
                    },
                },
                transform("leak", "token={{ secrets.API_TOKEN }}", depends_on=["call"]),
            ],
            "outputs": [{"name": "leak", "value": "{{ steps.leak.output }}"}],
        }
        run = await run_to_end(api, definition)
        assert peer.requests[0].headers["authorization"] == f"Bearer {TOKEN}"
    assert run["status"] == "completed"
    assert TOKEN not in json.dumps(run)
    assert run["output"] == {"leak": "token=***"}
    call = next(s for s in run["step_runs"] if s["step_id"] == "call")
    assert call["output"]["body"] == {"seen": "***"}
    events = await api.client.get(f"/api/workflows/runs/{run['id']}/stream", headers=api.headers)
    assert TOKEN not in events.text and "***" in events.text


async def test_secret_in_an_error_is_masked(api: Api) -> None:
    await _put(api, "DB_PASSWORD", "hunter2-very-secret")
    definition = {
        "name": "Fails loudly",
        "steps": [
            {
                "id": "boom",
                "type": "script",
                "config": {
                    "language": "bash",
                    "code": 'echo "password is $PW" >&2; exit 1',
                    "env": {"PW": "{{ secrets.DB_PASSWORD }}"},
                },
            }
        ],
    }
    run = await run_to_end(api, definition)
    assert run["status"] == "failed"
    assert "hunter2-very-secret" not in json.dumps(run)
    assert "password is ***" in run["step_runs"][0]["error"]


async def test_secrets_are_per_workspace_and_unknown_names_fail(api: Api) -> None:
    await _put(api, "ONLY_HERE", "value-of-default-ws")
    other = await api.other_workspace()
    definition = {"name": "Reads a secret", "steps": [transform("t", "{{ secrets.ONLY_HERE }}")]}
    resp = await api.client.post("/api/workflows", json={"definition": definition}, headers=other)
    wf = resp.json()["id"]
    started = await api.client.post(f"/api/workflows/{wf}/run", json={}, headers=other)
    run_id = started.json()["run_id"]
    run = await wait_for_run(api, run_id, headers=other)
    assert run["status"] == "failed"
    assert "ONLY_HERE" in run["step_runs"][0]["error"]
