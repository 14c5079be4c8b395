"""The run page: loop iterations under their loop, links to child runs, and the session's
event stream (replay after the events the page already shows, or after Last-Event-ID)."""

from __future__ import annotations

from tests.integration.conftest import Api
from tests.integration.runs_helpers import (
    create_workflow,
    parse_sse,
    start_run,
    transform,
    wait_for_run,
)
from tests.integration.ui_helpers import ui_session


async def test_loop_iterations_and_child_runs_are_shown(api: Api) -> None:
    child = await create_workflow(api, {"name": "child", "steps": [transform("c", 1)]})
    parent = await create_workflow(
        api,
        {
            "name": "parent",
            "steps": [
                {
                    "id": "each",
                    "type": "loop",
                    "config": {
                        "items": [10, 20, 30],
                        "step": {"type": "transform", "config": {"value": "{{ loop.item }}"}},
                    },
                },
                {"id": "sub", "type": "workflow", "config": {"workflow_id": child}},
            ],
        },
    )
    run_id = await start_run(api, parent)
    run = await wait_for_run(api, run_id)
    assert run["status"] == "completed", run
    async with ui_session(api) as ui:
        page = (await ui.get(f"/ui/runs/{run_id}")).text
        for index in range(3):
            assert f"item {index}" in page
        children = await api.client.get(
            "/api/runs", params={"workflow_id": child}, headers=api.headers
        )
        child_run = children.json()["runs"][0]["id"]
        assert f'href="/ui/runs/{child_run}">child run' in page
        child_page = (await ui.get(f"/ui/runs/{child_run}")).text
        assert f'href="/ui/runs/{run_id}"' in child_page


async def test_the_session_stream_replays_after_what_the_page_shows(api: Api) -> None:
    wf = await create_workflow(api, {"name": "s", "steps": [transform("a", 1)]})
    run_id = await start_run(api, wf)
    await wait_for_run(api, run_id)
    async with ui_session(api) as ui:
        whole = await ui.get(f"/ui/runs/{run_id}/stream")
        assert whole.status_code == 200
        events = parse_sse(whole.text.splitlines())
        assert events[0].event == "run_started" and events[-1].event == "run_completed"
        later = await ui.get(f"/ui/runs/{run_id}/stream", params={"after": 2})
        assert next(e.id for e in parse_sse(later.text.splitlines())) == 3
        resumed = await ui.get(
            f"/ui/runs/{run_id}/stream", params={"after": 1}, headers={"Last-Event-ID": "3"}
        )
        assert next(e.id for e in parse_sse(resumed.text.splitlines())) == 4
    assert (await api.client.get(f"/ui/runs/{run_id}/stream")).status_code == 303
