"""Every UI screen renders for an admin, hides write buttons from a read-only key (whose
write posts answer 403), answers 404 for another workspace's objects, and never shows a
secret value."""

from __future__ import annotations

from typing import Any

from tests.integration.conftest import Api
from tests.integration.runs_helpers import create_workflow, start_run, transform, wait_for_run
from tests.integration.ui_helpers import secret_of, ui_session

DEFINITION: dict[str, Any] = {
    "name": "Screens",
    "inputs": [{"name": "n", "type": "number", "default": 2}],
    "steps": [
        {
            "id": "check",
            "type": "condition",
            "config": {"expression": "inputs.n > 1", "then": ["big"], "else": ["small"]},
        },
        transform("big", "big", depends_on=["check"]),
        transform("small", "small", depends_on=["check"]),
        transform("token", "{{ secrets.API_TOKEN }}"),
    ],
}
SECRET_VALUE = "s3cr3t-value-never-shown"


async def _workflow_with_run(api: Api) -> tuple[str, str]:
    put = await api.client.put(
        "/api/secrets/API_TOKEN", json={"value": SECRET_VALUE}, headers=api.headers
    )
    assert put.status_code in (200, 201), put.text
    wf = await create_workflow(api, DEFINITION)
    schedule = await api.client.post(
        f"/api/workflows/{wf}/schedules",
        json={"cron_expression": "0 9 * * *"},
        headers=api.headers,
    )
    assert schedule.status_code == 201, schedule.text
    run = await start_run(api, wf)
    await wait_for_run(api, run)
    return wf, run


def _screens(wf: str, run: str) -> list[str]:
    base = f"/ui/workflows/{wf}"
    return [
        "/ui/",
        "/ui/workflows",
        "/ui/workflows?q=Screens&archived=include",
        "/ui/trash",
        base,
        f"{base}/runs",
        f"{base}/runs?status=completed",
        f"{base}/analytics",
        f"{base}/versions",
        f"{base}/versions?a=1&b=1",
        f"{base}/schedules",
        f"{base}/definition",
        f"{base}/related",
        f"{base}/run",
        f"/ui/runs/{run}",
        f"/ui/runs/{run}/live",
        "/ui/runs",
        f"/ui/runs?status=completed&workflow_id={wf}",
        "/ui/approvals",
        "/ui/templates",
        "/ui/schedules/preview?cron_expression=0+9+*+*+1-5&timezone=Europe/Paris",
    ]


async def test_every_screen_renders_and_shows_no_secret(api: Api) -> None:
    wf, run = await _workflow_with_run(api)
    async with ui_session(api) as ui:
        for url in [*_screens(wf, run), "/ui/settings"]:
            resp = await ui.get(url)
            assert resp.status_code == 200, (url, resp.text[:2000])
            assert "text/html" in resp.headers["content-type"]
            assert SECRET_VALUE not in resp.text, url
            assert api.key not in resp.text, url
        graph = (await ui.get(f"/ui/workflows/{wf}")).text
        for step in ("check", "big", "small", "token"):
            assert f'data-step-id="{step}"' in graph
        assert ">then<" in graph and ">else<" in graph
        run_page = (await ui.get(f"/ui/runs/{run}")).text
        assert 'data-step-id="big" data-status="completed"' in run_page
        assert 'data-step-id="small" data-status="skipped"' in run_page
        assert "[REDACTED]" in run_page or "***" in run_page
        preview = (await ui.get("/ui/schedules/preview?cron_expression=0+9+*+*+*")).text
        assert preview.count("<li>") == 5
        bad = (await ui.get("/ui/schedules/preview?cron_expression=61+*+*+*+*")).text
        assert "alert error" in bad
        settings = (await ui.get("/ui/settings")).text
        assert "API_TOKEN" in settings


async def test_a_read_only_key_sees_no_write_buttons_and_its_posts_are_refused(api: Api) -> None:
    wf, run = await _workflow_with_run(api)
    reader = secret_of(await api.key_with("workflows:read"))
    async with ui_session(api, reader) as ui:
        for url in _screens(wf, run)[:-1]:
            if url.endswith("/run"):
                continue  # the Run dialog itself needs workflows:run
            resp = await ui.get(url)
            assert resp.status_code == 200, (url, resp.text[:2000])
            for button in (
                f'href="/ui/workflows/{wf}/run"',
                "Duplicate",
                "Archive<",
                ">Delete",
                "Roll back",
                "Add schedule",
                "Save as a new version",
                ">Install<",
                ">Cancel<",
                ">Resume",
                ">Approve<",
                "Delete selected",
                "Settings</a>",
            ):
                assert button not in resp.text, (url, button)
        assert (await ui.get(f"/ui/workflows/{wf}/run")).status_code == 403
        assert (await ui.get("/ui/settings")).status_code == 403
        posts = [
            (f"/ui/workflows/{wf}/run", {}),
            (f"/ui/workflows/{wf}/duplicate", {}),
            (f"/ui/workflows/{wf}/archive", {}),
            (f"/ui/workflows/{wf}/delete", {}),
            ("/ui/workflows/bulk-delete", {"ids": wf}),
            (f"/ui/workflows/{wf}/rollback", {"version": "1"}),
            (f"/ui/workflows/{wf}/schedules", {"cron_expression": "0 9 * * *"}),
            (f"/ui/workflows/{wf}/definition", {"definition": "name: x\nsteps: []"}),
            ("/ui/templates/tpl_approval_gate/install", {}),
            (f"/ui/runs/{run}/resume", {}),
            ("/ui/settings/keys", {"name": "k", "scopes": "workflows:read"}),
            ("/ui/settings/secrets", {"name": "X", "value": "y"}),
        ]
        for url, data in posts:
            resp = await ui.post(url, data)
            assert resp.status_code == 403, (url, resp.status_code, resp.text[:500])
            assert "lacks the" in resp.text


async def test_another_workspaces_objects_are_not_found(api: Api) -> None:
    wf, run = await _workflow_with_run(api)
    stranger = secret_of(await api.other_workspace())
    async with ui_session(api, stranger) as ui:
        base = f"/ui/workflows/{wf}"
        for url in (
            base,
            f"{base}/runs",
            f"{base}/analytics",
            f"{base}/versions",
            f"{base}/schedules",
            f"{base}/definition",
            f"{base}/related",
            f"{base}/run",
            f"/ui/runs/{run}",
            f"/ui/runs/{run}/live",
            f"/ui/runs/{run}/stream",
            f"/ui/runs?workflow_id={wf}",
        ):
            resp = await ui.get(url)
            assert resp.status_code == 404, (url, resp.status_code)
        for url in (
            f"{base}/duplicate",
            f"{base}/delete",
            f"/ui/runs/{run}/cancel",
            f"{base}/definition/check",
            f"/ui/runs/{run}/steps/x/decide",
        ):
            resp = await ui.post(url, {"decision": "approve"})
            assert resp.status_code == 404, (url, resp.status_code)
        listing = await ui.get("/ui/workflows")
        assert wf not in listing.text
        assert run not in (await ui.get("/ui/runs")).text


async def test_pages_are_locked_down_and_bad_addresses_are_422_pages(api: Api) -> None:
    wf, _ = await _workflow_with_run(api)
    async with ui_session(api) as ui:
        page = await ui.get("/ui/workflows")
        csp = page.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
        assert "unsafe-inline" not in csp
        assert page.headers["x-content-type-options"] == "nosniff"
        for url in (
            "/ui/workflows?offset=-1",
            f"/ui/workflows/{wf}/versions?a=0&b=1",
            "/ui/trash?offset=99999999999999999999",
            "/ui/runs?since=yesterday",
            f"/ui/workflows/{wf}/analytics?days=100000",
            "/ui/runs?status=nope",
        ):
            resp = await ui.get(url)
            assert resp.status_code == 422, (url, resp.status_code)
            assert "text/html" in resp.headers["content-type"]
            assert 'class="alert error"' in resp.text
        rollback = await ui.post(f"/ui/workflows/{wf}/rollback", {"version": "99999999999"})
        assert rollback.status_code == 422
        assert "version number" in rollback.text
