"""Every built-in template validates, ships as package data, and runs through the API."""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

import pytest

from flowdeck.domain.validation import validate_definition
from flowdeck.engine.steps.registry import all_handlers, config_registry
from flowdeck.templates import builtin_templates
from tests.integration.conftest import Api
from tests.integration.runs_helpers import (
    outputs,
    start_run,
    statuses,
    wait_for_run,
    wait_for_step,
)
from tests.support.peer import Reply, refused_url, running_peer

T = "/api/workflows/templates"
# Each template that runs to completion by itself (ones needing URLs get a local HTTP peer).
# tpl_approval_gate is left out here because it waits for a person to decide its `approval`
# step; the test at the end decides it through the API, both ways.
RUNNABLE = {
    "tpl_etl_with_loop",
    "tpl_route_by_threshold",
    "tpl_fetch_and_notify",
    "tpl_scheduled_health_check",
    "tpl_webhook_relay",
}


@pytest.mark.parametrize("template", builtin_templates(), ids=lambda t: t.id)
def test_builtin_template_is_valid(template: Any) -> None:
    result = validate_definition(template.definition, step_configs=config_registry(all_handlers()))
    assert result.errors == [] and result.warnings == []
    assert template.id.startswith("tpl_") and template.name and template.category
    assert len(template.description) > 40


def test_every_yaml_file_is_a_template_and_the_set_is_complete() -> None:
    files = [p for p in resources.files("flowdeck.templates").iterdir() if p.name.endswith(".yaml")]
    assert len(files) == len(builtin_templates()) >= 5
    ids = {t.id for t in builtin_templates()}
    assert RUNNABLE | {"tpl_approval_gate"} == ids


async def install(api: Api, template_id: str) -> str:
    resp = await api.client.post(f"{T}/{template_id}/install", json={}, headers=api.headers)
    assert resp.status_code == 201, resp.text
    return str(resp.json()["workflow_id"])


async def run(api: Api, wf_id: str, input_data: dict[str, Any]) -> Any:
    return await wait_for_run(api, await start_run(api, wf_id, input_data))


async def test_etl_with_loop_runs_offline(api: Api) -> None:
    wf_id = await install(api, "tpl_etl_with_loop")
    done = await run(api, wf_id, {})
    assert done["status"] == "completed", done["error"]
    assert done["output"] == {"rows": 3, "revenue": 174.0}
    iterations = [s for s in done["step_runs"] if s["loop_step_id"] == "transform_items"]
    assert len(iterations) == 3
    filtered = await run(api, wf_id, {"min_total": 40})
    assert filtered["output"] == {"rows": 2, "revenue": 144.0}


async def test_route_by_threshold_runs_offline(api: Api) -> None:
    wf_id = await install(api, "tpl_route_by_threshold")
    high = await run(api, wf_id, {"amount": 1500})
    assert high["status"] == "completed" and high["output"] == {"decision": "review"}
    assert statuses(high)["auto_accept"] == "skipped"
    low = await run(api, wf_id, {"amount": 5})
    assert low["output"] == {"decision": "accepted"}


async def test_fetch_and_notify_with_local_urls(api: Api) -> None:
    wf_id = await install(api, "tpl_fetch_and_notify")
    async with running_peer() as peer:
        peer.replies["/data"] = Reply(body={"rows": [1, 2]})
        peer.replies["/gone"] = Reply(status=404, body={"error": "no"})
        peer.replies["/hook"] = Reply(body={"ok": True})
        ok = await run(
            api, wf_id, {"source_url": peer.url("/data"), "notify_url": peer.url("/hook")}
        )
        assert ok["status"] == "completed", ok["error"]
        assert ok["output"] == {"status_code": 200, "branch": "then"}
        assert statuses(ok)["alert"] == "skipped"
        posted = json.loads(peer.requests[-1].body)
        assert posted == {
            "text": f"Fetched {peer.url('/data')}: HTTP 200",
            "data": {"rows": [1, 2]},
        }
        missing = await run(
            api, wf_id, {"source_url": peer.url("/gone"), "notify_url": peer.url("/hook")}
        )
        assert missing["status"] == "completed" and missing["output"]["branch"] == "else"
        assert statuses(missing)["notify"] == "skipped"
        alert = json.loads(peer.requests[-1].body)
        assert alert["text"] == f"Fetching {peer.url('/gone')} failed with HTTP 404"


async def test_scheduled_health_check_with_local_urls(api: Api) -> None:
    wf_id = await install(api, "tpl_scheduled_health_check")
    async with running_peer() as peer:
        peer.replies["/health"] = Reply(body="ok")
        peer.replies["/sick"] = Reply(status=404, body="no")
        peer.replies["/alert"] = Reply(body={"ok": True})
        healthy = await run(
            api, wf_id, {"url": peer.url("/health"), "alert_url": peer.url("/alert")}
        )
        assert healthy["status"] == "completed", healthy["error"]
        assert healthy["output"] == {"healthy": True, "status_code": 200}
        assert statuses(healthy)["alert"] == "skipped"
        assert [r.path for r in peer.requests] == ["/health"]
        sick = await run(api, wf_id, {"url": peer.url("/sick"), "alert_url": peer.url("/alert")})
        assert sick["status"] == "completed"
        assert sick["output"] == {"healthy": False, "status_code": 404}
        alert = json.loads(peer.requests[-1].body)
        assert alert["status_code"] == 404 and alert["run_id"] == sick["id"]
        # Unreachable: the probe fails (so does the run) and the alert still goes out.
        down = await run(api, wf_id, {"url": refused_url(), "alert_url": peer.url("/alert")})
        assert down["status"] == "failed"
        assert statuses(down) == {"probe": "failed", "assess": "completed", "alert": "completed"}
        assert outputs(down)["assess"] == {"healthy": False, "status_code": None}
        assert json.loads(peer.requests[-1].body)["run_id"] == down["id"]


async def test_webhook_relay_once_its_url_is_filled_in(api: Api) -> None:
    wf_id = await install(api, "tpl_webhook_relay")
    wf = (await api.client.get(f"/api/workflows/{wf_id}", headers=api.headers)).json()
    assert wf["trigger_type"] == "webhook"
    async with running_peer() as peer:
        peer.replies["/in"] = Reply(body={"received": True})
        definition = wf["definition"]
        forward = next(s for s in definition["steps"] if s["id"] == "forward")
        forward["config"]["url"] = peer.url("/in")
        resp = await api.client.put(
            f"/api/workflows/{wf_id}", json={"definition": definition}, headers=api.headers
        )
        assert resp.status_code == 200, resp.text
        done = await run(api, wf_id, {"event": "push", "ref": "main"})
        assert done["status"] == "completed", done["error"]
        assert done["output"] == {"delivered_status": 200}
        received = peer.requests[-1]
        assert received.headers["x-relayed-by"] == "flowdeck"
        assert json.loads(received.body) == {
            "source": "flowdeck",
            "run_id": done["id"],
            "event": "push",
            "payload": {"event": "push", "ref": "main"},
        }


@pytest.mark.parametrize("decision", ["approve", "reject"])
async def test_approval_gate_once_someone_decides(api: Api, decision: str) -> None:
    wf_id = await install(api, "tpl_approval_gate")
    run_id = await start_run(api, wf_id, {"change": "v2.1", "requested_by": "ada"})
    await wait_for_step(api, run_id, "review", ["waiting"])
    resp = await api.client.post(
        f"/api/workflows/runs/{run_id}/steps/review/{decision}",
        json={"comment": "looked at it"},
        headers=api.headers,
    )
    assert resp.status_code == 200, resp.text
    done = await wait_for_run(api, run_id)
    if decision == "approve":
        assert done["status"] == "completed", done["error"]
        assert done["output"] == {"approved": True, "status": "published"}
        assert statuses(done)["abandon"] == "skipped"
    else:
        # A rejected approval fails its step (and so the run); the cleanup still records it.
        assert done["status"] == "failed"
        assert done["output"] is None or done["output"].get("approved") is not True
        assert statuses(done) == {
            "prepare": "completed",
            "review": "failed",
            "publish": "skipped",
            "abandon": "completed",
            "record": "completed",
        }
        assert outputs(done)["record"] == {"approved": False, "status": "abandoned"}
