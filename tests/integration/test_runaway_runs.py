"""Runaway runs: a workflow that starts itself is refused when it is saved. (Nesting depth and
fairness across workspaces are engine tests: tests/engine/.)"""

from __future__ import annotations

from tests.integration.conftest import Api
from tests.integration.runs_helpers import create_workflow, transform


def _calls(step_id: str, target: str) -> dict[str, object]:
    return {"id": step_id, "type": "workflow", "config": {"workflow_id": target}}


async def test_a_workflow_step_that_starts_its_own_workflow_is_refused(api: Api) -> None:
    resp = await api.client.post(
        "/api/workflows",
        json={"definition": {"name": "Forever", "steps": [_calls("again", "forever")]}},
        headers=api.headers,
    )
    assert resp.status_code == 422, resp.text
    assert (
        "Step 'again' runs this workflow itself ('forever'), which would never end"
        in resp.json()["errors"]
    )

    wf = await create_workflow(api, {"name": "Once", "steps": [transform("t", 1)]})
    looped = {
        "id": "each",
        "type": "loop",
        "config": {
            "items": "{{ [1, 2] }}",
            "step": {"type": "workflow", "config": {"workflow_id": wf}},
        },
    }
    resp = await api.client.put(
        f"/api/workflows/{wf}",
        json={"definition": {"name": "Once", "steps": [looped]}},
        headers=api.headers,
    )
    assert resp.status_code == 422, resp.text
    assert any("Step 'each' runs this workflow itself" in e for e in resp.json()["errors"])
