"""Literal credentials in definitions: masked in the public view and in forks, warned about by
validation, create and update; templates such as `{{ secrets.NAME }}` stay as written."""

from __future__ import annotations

from typing import Any

from tests.integration.conftest import Api
from tests.integration.test_access_api import workspace_slug
from tests.integration.test_workflows_api import assert_problem

WF = "/api/workflows"
LITERAL_SECRET = "whsec_c2hhcmVkLWluLWNsZWFy"
LITERAL_BEARER = "Bearer sk-live-4f9a8b7c6d5e"


def leaky(name: str = "Leaky") -> dict[str, Any]:
    """A workflow holding literal credentials next to a template that reveals nothing."""
    return {
        "name": name,
        "steps": [
            {
                "id": "notify",
                "type": "webhook",
                "config": {
                    "url": "https://hooks.example.com/x",
                    "secret": LITERAL_SECRET,
                    "headers": {"Authorization": LITERAL_BEARER, "X-Trace": "on"},
                },
            },
            {
                "id": "fetch",
                "type": "http_request",
                "config": {
                    "url": "https://api.example.com/items",
                    "headers": {
                        "Authorization": "Bearer {{ secrets.API_TOKEN }}",
                        "X-API-Key": "k-1234567890abcdef",
                    },
                },
                "depends_on": ["notify"],
            },
        ],
    }


def _texts(definition: dict[str, Any]) -> str:
    import json

    return json.dumps(definition)


async def _publish(api: Api, headers: dict[str, str]) -> tuple[str, dict[str, Any]]:
    resp = await api.client.post(
        WF, json={"definition": leaky(), "visibility": "public"}, headers=headers
    )
    assert resp.status_code == 201, resp.text
    return await workspace_slug(api, headers), resp.json()


async def test_public_view_masks_literal_credentials(api: Api) -> None:
    slug, created = await _publish(api, api.headers)
    # The owner still sees (and is warned about) what is stored.
    owner = created["workflow"]
    assert owner["definition"]["steps"][0]["config"]["secret"] == LITERAL_SECRET
    warned = " ".join(owner["warnings"])
    assert "config.secret" in warned and "config.headers.Authorization" in warned
    assert "X-API-Key" in warned and LITERAL_SECRET not in warned

    resp = await api.client.get(f"/api/public/{slug}/workflows/leaky")
    assert resp.status_code == 200, resp.text
    public = resp.json()
    text = _texts(public)
    assert LITERAL_SECRET not in text and "sk-live-4f9a8b7c6d5e" not in text
    assert "k-1234567890abcdef" not in text and "warnings" not in public
    notify, fetch = public["definition"]["steps"]
    assert notify["config"]["secret"] == "***"
    assert notify["config"]["headers"] == {"Authorization": "Bearer ***", "X-Trace": "on"}
    assert fetch["config"]["headers"] == {
        "Authorization": "Bearer {{ secrets.API_TOKEN }}",
        "X-API-Key": "***",
    }


async def test_fork_carries_no_literal_credentials(api: Api) -> None:
    other = await api.other_workspace()
    slug, _ = await _publish(api, other)
    body = {"source_workspace": slug, "source_workflow": "leaky"}
    resp = await api.client.post(f"{WF}/fork", json=body, headers=api.headers)
    assert resp.status_code == 201, resp.text
    fork = resp.json()["workflow"]
    stored = (await api.client.get(f"{WF}/{fork['id']}", headers=api.headers)).json()
    version = await api.client.get(f"{WF}/{fork['id']}/versions/1", headers=api.headers)
    for seen in (fork, stored, version.json()):
        text = _texts(seen["definition"])
        assert LITERAL_SECRET not in text and "sk-live-4f9a8b7c6d5e" not in text
        assert "k-1234567890abcdef" not in text
        assert "{{ secrets.API_TOKEN }}" in text
    assert stored["definition"]["steps"][0]["config"]["secret"] == "***"
    # The forker is told what to fill in.
    assert any("config.secret" in w for w in stored["warnings"])


async def test_validation_warns_about_literal_credentials(api: Api) -> None:
    resp = await api.client.post(
        f"{WF}/validate", json={"definition": leaky()}, headers=api.headers
    )
    result = resp.json()
    assert result["valid"] is True
    secret_warning = next(w for w in result["warnings"] if "config.secret" in w)
    assert "Step 'notify'" in secret_warning and "{{ secrets.NOTIFY_SECRET }}" in secret_warning
    auth = next(w for w in result["warnings"] if "headers.Authorization" in w)
    assert "Bearer {{ secrets.NOTIFY_AUTHORIZATION }}" in auth
    assert not any("Step 'fetch': config.headers.Authorization" in w for w in result["warnings"])
    assert all(LITERAL_SECRET not in w and "sk-live" not in w for w in result["warnings"])

    clean = leaky("Clean")
    clean["steps"][0]["config"]["secret"] = "{{ secrets.HOOK_SECRET }}"
    clean["steps"][0]["config"]["headers"] = {"Authorization": "Bearer {{ secrets.T }}"}
    clean["steps"][1]["config"]["headers"]["X-API-Key"] = "{{ secrets.KEY }}"
    resp = await api.client.post(f"{WF}/validate", json={"definition": clean}, headers=api.headers)
    assert resp.json()["warnings"] == []

    # Create and update answer the same warnings on the workflow.
    created = await api.client.post(WF, json={"definition": clean}, headers=api.headers)
    assert created.json()["workflow"]["warnings"] == []
    wf_id = created.json()["id"]
    update = {"definition": {**leaky("Clean"), "name": "Clean"}}
    resp = await api.client.put(f"{WF}/{wf_id}", json=update, headers=api.headers)
    assert any("config.secret" in w for w in resp.json()["warnings"])
    assert_problem(await api.client.post(f"{WF}/validate", json={}, headers=api.headers), 422)
