"""What the UI's forms do, through the same services as the API."""

from __future__ import annotations

import re

from tests.integration.conftest import Api
from tests.integration.runs_helpers import get_run, wait_for_run, wait_for_step
from tests.integration.ui_helpers import Ui, ui_session

_RUN_ID = re.compile(r"/ui/runs/(run_[0-9a-z]+)")
_WF_ID = re.compile(r"/ui/workflows/(wf_[0-9a-z]+)")


async def _install(ui: Ui, template: str, name: str | None = None) -> str:
    resp = await ui.post(f"/ui/templates/{template}/install", {"name": name or ""})
    assert resp.status_code == 303, resp.text
    found = _WF_ID.match(resp.headers["location"])
    assert found
    return found.group(1)


async def test_install_run_from_the_form_and_approve_from_the_inbox(api: Api) -> None:
    async with ui_session(api) as ui:
        wf = await _install(ui, "tpl_approval_gate", "Ship gate")
        dialog = await ui.get(f"/ui/workflows/{wf}/run")
        assert 'name="input.change"' in dialog.text and "required" in dialog.text
        plan = await ui.post(f"/ui/workflows/{wf}/plan", {})
        assert "Input &#39;change&#39;" in plan.text or "change" in plan.text
        assert "would not start" in plan.text
        good_plan = await ui.post(f"/ui/workflows/{wf}/plan", {"input.change": "v2"})
        assert "Estimated cost" in good_plan.text and "would not start" not in good_plan.text
        started = await ui.post(
            f"/ui/workflows/{wf}/run", {"input.change": "v2", "idempotency_key": "k1"}
        )
        assert started.status_code == 303, started.text
        match = _RUN_ID.match(started.headers["location"])
        assert match
        run_id = match.group(1)
        again = await ui.post(
            f"/ui/workflows/{wf}/run", {"input.change": "v3", "idempotency_key": "k1"}
        )
        assert again.headers["location"] == started.headers["location"]
        await wait_for_step(api, run_id, "review", {"waiting"})
        inbox = await ui.get("/ui/approvals")
        assert f'data-run-id="{run_id}"' in inbox.text
        assert "someone asks to ship: v2" in inbox.text
        decided = await ui.post(
            f"/ui/runs/{run_id}/steps/review/decide",
            {"decision": "approve", "comment": "ok", "back": "/ui/approvals"},
        )
        assert decided.status_code == 303
        assert decided.headers["location"] == "/ui/approvals"
        run = await wait_for_run(api, run_id)
        assert run["status"] == "completed"
        assert run["input_data"]["change"] == "v2"
        assert f'data-run-id="{run_id}"' not in (await ui.get("/ui/approvals")).text


async def test_typed_inputs_are_checked_before_a_run_starts(api: Api) -> None:
    async with ui_session(api) as ui:
        wf = await _install(ui, "tpl_route_by_threshold")
        bad = await ui.post(f"/ui/workflows/{wf}/run", {"input.amount": "lots"})
        assert bad.status_code == 422
        assert "must be a number" in bad.text
        ok = await ui.post(f"/ui/workflows/{wf}/run", {"input.amount": "5000"})
        match = _RUN_ID.match(ok.headers["location"])
        assert match
        run = await wait_for_run(api, match.group(1))
        assert run["input_data"] == {"amount": 5000, "threshold": 1000}


async def test_definition_edit_checks_as_you_type_then_versions_diff_and_rollback(
    api: Api,
) -> None:
    async with ui_session(api) as ui:
        wf = await _install(ui, "tpl_route_by_threshold")
        editor = await ui.get(f"/ui/workflows/{wf}/definition")
        assert "The definition is valid" in editor.text
        text = (await api.client.get(f"/api/workflows/{wf}", headers=api.headers)).json()
        broken = (
            "name: Route by threshold\nsteps:\n  - id: a\n    type: transform\n"
            "    config: {value: 1}\n  - id: b\n    type: transform\n"
            "    depends_on: [nowhere]\n    config: {value: 2}\n"
        )
        check = await ui.post(f"/ui/workflows/{wf}/definition/check", {"definition": broken})
        assert check.status_code == 200
        assert 'data-error-step="b"' in check.text
        assert 'data-step-id="b" data-status="invalid"' in check.text
        assert 'data-step-id="a" data-status="pending"' in check.text
        assert "nowhere" in check.text
        syntax = await ui.post(f"/ui/workflows/{wf}/definition/check", {"definition": "a: [b"})
        assert "Invalid YAML" in syntax.text
        refused = await ui.post(f"/ui/workflows/{wf}/definition", {"definition": broken})
        assert refused.status_code == 422
        fixed = broken.replace("[nowhere]", "[a]")
        preview = await ui.post(f"/ui/workflows/{wf}/definition/check", {"definition": fixed})
        assert "The definition is valid" in preview.text
        assert 'data-step-id="b"' in preview.text
        saved = await ui.post(
            f"/ui/workflows/{wf}/definition", {"definition": fixed, "change_summary": "Simpler"}
        )
        assert saved.status_code == 303
        versions = await ui.get(f"/ui/workflows/{wf}/versions?a=1&b=2")
        assert "Simpler" in versions.text
        assert 'class="diff-summary"' in versions.text
        assert "remove</span> <b>step &#39;record&#39;</b>" in versions.text
        rolled = await ui.post(f"/ui/workflows/{wf}/rollback", {"version": "1"})
        assert rolled.status_code == 303
        now = (await api.client.get(f"/api/workflows/{wf}", headers=api.headers)).json()
        assert now["version"] == 3
        assert now["definition"] == text["definition"]


async def test_schedules_bulk_delete_trash_and_settings(api: Api) -> None:
    async with ui_session(api) as ui:
        wf = await _install(ui, "tpl_route_by_threshold")
        other = await _install(ui, "tpl_approval_gate")
        bad = await ui.post(f"/ui/workflows/{wf}/schedules", {"cron_expression": "every day"})
        assert bad.status_code == 422
        made = await ui.post(
            f"/ui/workflows/{wf}/schedules",
            {
                "cron_expression": "0 9 * * 1-5",
                "timezone": "Europe/Paris",
                "input_data": '{"amount": 1}',
            },
        )
        assert made.status_code == 303, made.text
        listed = await api.client.get(f"/api/workflows/{wf}/schedules", headers=api.headers)
        schedule = listed.json()["schedules"][0]
        assert schedule["timezone"] == "Europe/Paris" and schedule["enabled"]
        await ui.post(f"/ui/schedules/{schedule['id']}/toggle")
        page = await ui.get(f"/ui/workflows/{wf}/schedules")
        assert ">disabled<" in page.text
        await ui.post(f"/ui/schedules/{schedule['id']}/delete")
        assert "No schedules" in (await ui.get(f"/ui/workflows/{wf}/schedules")).text

        assert (await ui.post("/ui/workflows/bulk-delete", {})).status_code == 422
        resp = await ui.client.post(
            "/ui/workflows/bulk-delete", data={"csrf": ui.csrf, "ids": [wf, other]}
        )
        assert resp.status_code == 303
        assert wf not in (await ui.get("/ui/workflows")).text
        trash = await ui.get("/ui/trash")
        assert wf in trash.text and other in trash.text
        assert (await ui.post(f"/ui/workflows/{wf}/restore")).status_code == 303
        assert wf in (await ui.get("/ui/workflows")).text

        created = await ui.client.post(
            "/ui/settings/keys",
            data={"csrf": ui.csrf, "name": "ci", "scopes": ["workflows:read", "workflows:run"]},
        )
        assert created.status_code == 200
        secret = re.search(r'id="new-key">(fdk_[^<]+)<', created.text)
        assert secret
        assert secret.group(1) not in (await ui.get("/ui/settings")).text
        me = await api.client.get("/api/me", headers={"Authorization": f"Bearer {secret[1]}"})
        assert me.status_code == 200
        stored = await ui.post("/ui/settings/secrets", {"name": "PAGER", "value": "hunter2-x"})
        assert stored.status_code == 303
        settings = (await ui.get("/ui/settings")).text
        assert "PAGER" in settings and "hunter2-x" not in settings
        await ui.post("/ui/settings/agents", {"name": "helper", "model": "m1"})
        assert "helper" in (await ui.get("/ui/settings")).text


async def test_run_controls_cancel_and_resume(api: Api) -> None:
    async with ui_session(api) as ui:
        wf = await _install(ui, "tpl_approval_gate")
        started = await ui.post(f"/ui/workflows/{wf}/run", {"input.change": "x"})
        match = _RUN_ID.match(started.headers["location"])
        assert match
        run_id = match.group(1)
        await wait_for_step(api, run_id, "review", {"waiting"})
        page = await ui.get(f"/ui/runs/{run_id}")
        assert ">Approve<" in page.text and ">Cancel<" in page.text
        assert "someone asks to ship: x" in page.text
        assert (await ui.post(f"/ui/runs/{run_id}/cancel")).status_code == 303
        run = await wait_for_run(api, run_id)
        assert run["status"] == "cancelled"
        resumed = await ui.post(f"/ui/runs/{run_id}/resume", {"from_step": "review"})
        assert resumed.status_code == 303
        await wait_for_step(api, run_id, "review", {"waiting"})
        assert (await get_run(api, run_id))["status"] in ("waiting", "running")
        assert (await ui.post(f"/ui/runs/{run_id}/explode")).status_code == 422
