"""Seed 002 verbatim: `/api/v1/workflows/*`, `/api/v1/runs/start` and `/api/v1/files/upload-url`
in the seed's own form (camelCase, `id` in the query, `workflowId` in the body)."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

from flowdeck.store.store import Store
from tests.integration.conftest import Api
from tests.integration.runs_helpers import serve, settings_for, wait_for_run
from tests.support.llm import fake_llm

V1 = "/api/v1"
# The seed's update example, as a create.
RELEASE = {
    "name": "Release hardening",
    "defaultConfig": {
        "templateId": "claude",
        "timeoutMs": 3600000,
        "memoryMb": 4096,
        "cpuCount": 4,
    },
    "pipelineSteps": [
        {"type": "designer", "cliId": "claude", "model": "claude-opus-4-7"},
        {"type": "checker", "cliId": "claude", "model": "claude-sonnet-4-6"},
    ],
    "workflowGraph": {"nodes": [{"id": "n1", "x": 10}], "edges": []},
}


async def _create(api: Api, **fields: Any) -> dict[str, Any]:
    r = await api.client.post(f"{V1}/workflows/create", headers=api.headers, json=fields)
    assert r.status_code == 200, r.text
    doc: dict[str, Any] = r.json()
    return doc


async def test_create_get_list_update_versions_revert(api: Api) -> None:
    doc = await _create(api, **RELEASE, description="Harden releases", maxIterations=3)
    for field in ("defaultConfig", "pipelineSteps", "workflowGraph"):
        assert doc[field] == RELEASE[field]
    assert doc["maxIterations"] == 3 and doc["deletedAt"] is None
    assert doc["display"]["cliTools"] == ["claude"]
    wf_id = doc["id"]
    # The pipeline runs as a chain of agent_task steps on agents named after the models.
    native = (await api.client.get(f"/api/workflows/{wf_id}", headers=api.headers)).json()
    steps = native["definition"]["steps"]
    assert [s["type"] for s in steps] == ["agent_task", "agent_task"]
    assert [s["config"]["agent_id"] for s in steps] == ["claude-opus-4-7", "claude-sonnet-4-6"]
    assert steps[1]["depends_on"] == [steps[0]["id"]]
    assert steps[0]["timeout_seconds"] == 3600

    got = await api.client.get(f"{V1}/workflows/get", headers=api.headers, params={"id": wf_id})
    assert got.status_code == 200 and got.json() == doc
    listed = await api.client.get(f"{V1}/workflows/list", headers=api.headers)
    assert [w["id"] for w in listed.json()["workflows"]] == [wf_id]
    assert listed.json()["nextCursor"] is None

    # The seed's update example; the graph alone changing still makes a version.
    update = {"workflowId": wf_id, **RELEASE, "workflowGraph": {"nodes": [], "edges": []}}
    r = await api.client.post(f"{V1}/workflows/update", headers=api.headers, json=update)
    assert r.status_code == 200, r.text
    assert r.json()["workflowGraph"] == {"nodes": [], "edges": []}
    versions = await api.client.get(
        f"{V1}/workflows/versions", headers=api.headers, params={"id": wf_id}
    )
    body = versions.json()
    assert body["currentVersion"] == 2
    assert [v["version"] for v in body["versions"]] == [2, 1]
    first = body["versions"][1]["versionId"]
    assert isinstance(first, str) and wf_id not in first  # opaque

    r = await api.client.post(
        f"{V1}/workflows/versions/revert",
        headers=api.headers,
        json={"workflowId": wf_id, "versionId": first},
    )
    assert r.status_code == 200, r.text
    assert r.json()["workflowGraph"] == RELEASE["workflowGraph"] and r.json()["version"] == 3
    bad = await api.client.post(
        f"{V1}/workflows/versions/revert",
        headers=api.headers,
        json={"workflowId": wf_id, "versionId": "bm9wZTox"},
    )
    assert bad.status_code == 404


async def test_list_pages_with_limit_and_cursor(api: Api) -> None:
    for n in range(3):
        await _create(api, **{**RELEASE, "name": f"W{n}"})
    page = await api.client.get(f"{V1}/workflows/list", headers=api.headers, params={"limit": 2})
    assert len(page.json()["workflows"]) == 2 and page.json()["nextCursor"]
    rest = await api.client.get(
        f"{V1}/workflows/list",
        headers=api.headers,
        params={"limit": 2, "cursor": page.json()["nextCursor"]},
    )
    assert [w["name"] for w in rest.json()["workflows"]] == ["W0"]
    too_many = await api.client.get(
        f"{V1}/workflows/list", headers=api.headers, params={"limit": 101}
    )
    assert too_many.status_code == 422


async def test_duplicate_rename_delete_restore_bulk_and_permanent(api: Api) -> None:
    wf_id = (await _create(api, **RELEASE))["id"]
    post = api.client.post
    copies = []
    for _ in range(2):
        r = await post(f"{V1}/workflows/duplicate", headers=api.headers, json={"workflowId": wf_id})
        assert r.status_code == 200, r.text
        copies.append(r.json())
    assert [c["name"] for c in copies] == ["Release hardening (copy)", "Release hardening (copy 2)"]
    assert copies[0]["workflowGraph"] == RELEASE["workflowGraph"]

    r = await post(
        f"{V1}/workflows/rename",
        headers=api.headers,
        json={"workflowId": copies[0]["id"], "name": "Renamed"},
    )
    assert r.status_code == 200 and r.json()["name"] == "Renamed"

    r = await post(f"{V1}/workflows/delete", headers=api.headers, json={"workflowId": wf_id})
    assert r.status_code == 200 and r.json()["workflow"]["deletedAt"]
    gone = await api.client.get(f"{V1}/workflows/get", headers=api.headers, params={"id": wf_id})
    assert gone.status_code == 404
    r = await post(f"{V1}/workflows/restore", headers=api.headers, json={"workflowId": wf_id})
    assert r.status_code == 200 and r.json()["workflow"]["deletedAt"] is None

    ids = [c["id"] for c in copies]
    r = await post(f"{V1}/workflows/bulk-delete", headers=api.headers, json={"workflowIds": ids})
    assert r.status_code == 200 and r.json()["deletedCount"] == 2

    r = await post(
        f"{V1}/workflows/permanent-delete", headers=api.headers, json={"workflowId": ids[0]}
    )
    assert r.status_code == 200 and r.json()["success"] is True
    r = await post(f"{V1}/workflows/restore", headers=api.headers, json={"workflowId": ids[0]})
    assert r.status_code == 404


async def test_upload_start_runs_with_numbers_and_images(
    store: Store, database_url: str, tmp_path: Path
) -> None:
    async with fake_llm() as llm:
        settings = settings_for(database_url, tmp_path, llm_base_url=llm.url())
        async with serve(settings, store) as api:
            wf_id = (await _create(api, **RELEASE))["id"]
            r = await api.client.post(f"{V1}/files/upload-url", headers=api.headers, json={})
            assert r.status_code == 200, r.text
            storage_id, url = r.json()["storageId"], r.json()["uploadUrl"]
            put = await api.client.put(
                url, content=b"\x89PNG-bytes", headers={"Content-Type": "image/png"}
            )
            assert put.status_code == 200, put.text
            assert put.json()["size"] == 10
            again = await api.client.put(url, content=b"other")
            assert again.status_code == 409
            forged = await api.client.put(url.split("?")[0] + "?token=nope", content=b"x")
            assert forged.status_code == 401

            llm.then("design: ship it", "checked: fine", "design 2", "checked 2")
            run_ids = []
            for n in (1, 2):
                r = await api.client.post(
                    f"{V1}/runs/start",
                    headers=api.headers,
                    json={
                        "workflowId": wf_id,
                        "prompt": f"Harden release {n}",
                        "githubRepoUrl": "https://github.com/acme/app",
                        "branchName": f"release-{n}",
                        "config": {"memoryMb": 2048},
                        "referenceImageIds": [storage_id],
                    },
                )
                assert r.status_code == 200, r.text
                assert r.json()["displayId"] == f"#{n}" and r.json()["runNumber"] == n
                run_ids.append(r.json()["runId"])
                run = await wait_for_run(api, r.json()["runId"])
                assert run["status"] == "completed", run
            first_design = llm.requests[0].content("user")
            assert "Harden release 1" in first_design
            assert "design: ship it" in llm.requests[1].content("user")  # the chain
            run = await wait_for_run(api, run_ids[0])
            images = run["input_data"]["referenceImages"]
            assert base64.b64decode(images[0]["data"]) == b"\x89PNG-bytes"
            assert images[0]["contentType"] == "image/png"

            r = await api.client.get(
                f"{V1}/workflows/runs", headers=api.headers, params={"id": wf_id, "limit": 1}
            )
            assert r.status_code == 200
            (newest,) = r.json()["runs"]
            assert newest["displayId"] == "#2" and newest["branchName"] == "release-2"
            assert r.json()["nextCursor"] and r.json()["total"] == 2

            other = await api.other_workspace()
            r = await api.client.post(
                f"{V1}/runs/start",
                headers=other,
                json={"workflowId": wf_id, "prompt": "x"},
            )
            assert r.status_code == 404
            own = await api.client.post(
                f"{V1}/workflows/create",
                headers=other,
                json={**RELEASE, "name": "Theirs"},
            )
            r = await api.client.post(
                f"{V1}/runs/start",
                headers=other,
                json={
                    "workflowId": own.json()["id"],
                    "prompt": "x",
                    "referenceImageIds": [storage_id],
                },
            )
            assert r.status_code == 422 and storage_id in r.text


async def test_analytics_and_related(api: Api) -> None:
    wf_id = (await _create(api, **RELEASE))["id"]
    r = await api.client.get(
        f"{V1}/workflows/analytics",
        headers=api.headers,
        params={"id": wf_id, "days": 7, "granularity": "weekly"},
    )
    assert r.status_code == 200, r.text
    assert all("_" not in k for k in r.json())
    r = await api.client.get(f"{V1}/workflows/related", headers=api.headers, params={"id": wf_id})
    assert r.status_code == 200
    related = r.json()
    assert [p["name"] for p in related["personas"]] == ["designer", "checker"]
    assert related["issues"] == [] and related["learningVersions"] == []


async def test_bad_paths(api: Api) -> None:
    # Neither pipelineSteps nor personaPipelineSteps: the seed's refusal.
    r = await api.client.post(f"{V1}/workflows/create", headers=api.headers, json={"name": "Empty"})
    assert r.status_code == 422
    assert r.json()["detail"] == (
        "At least one of pipelineSteps or personaPipelineSteps must be provided"
    )
    persona_only = await _create(
        api, name="Personas", personaPipelineSteps=[{"type": "reviewer", "model": "m"}]
    )
    assert persona_only["personaPipelineSteps"][0]["type"] == "reviewer"
    assert (await api.client.get(f"{V1}/workflows/list")).status_code == 401
    reader = await api.key_with("workflows:read")
    r = await api.client.post(f"{V1}/workflows/create", headers=reader, json=RELEASE)
    assert r.status_code == 403
    other = await api.other_workspace()
    r = await api.client.get(
        f"{V1}/workflows/get", headers=other, params={"id": persona_only["id"]}
    )
    assert r.status_code == 404
    r = await api.client.post(
        f"{V1}/runs/start", headers=api.headers, json={"workflowId": persona_only["id"]}
    )
    assert r.status_code == 422 and "prompt" in r.text
