"""/api/agents CRUD, and the agent_task step against a real OpenAI-compatible HTTP server."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from flowdeck.store.store import Store
from tests.integration.conftest import Api
from tests.integration.runs_helpers import (
    create_workflow,
    current,
    run_to_end,
    serve,
    settings_for,
    start_run,
    transform,
    wait_for_run,
)
from tests.support.llm import Scripted, fake_llm

AGENTS = "/api/agents"


async def _agent(api: Api, **fields: Any) -> dict[str, Any]:
    body = {"name": "Summarizer", "model": "fake-model", "instructions": "Be brief.", **fields}
    resp = await api.client.post(AGENTS, json=body, headers=api.headers)
    assert resp.status_code == 201, resp.text
    agent: dict[str, Any] = resp.json()["agent"]
    return agent


def _task(
    step_id: str, agent_id: str, goal: str, *, depends_on: list[str] | None = None, **config: Any
) -> dict[str, Any]:
    step = {"id": step_id, "type": "agent_task", "config": {"agent_id": agent_id, "goal": goal}}
    step["config"].update(config)
    if depends_on:
        step["depends_on"] = depends_on
    return step


# -- CRUD ----------------------------------------------------------------------------------


async def test_agent_crud(api: Api) -> None:
    created = await _agent(
        api, temperature=0.2, max_tokens=300, price_per_1k_input=0.5, price_per_1k_output=1.5
    )
    assert created["id"].startswith("agent_")
    assert created["has_api_key"] is False
    assert created["price_per_1k_output"] == 1.5
    by_name = await api.client.get(f"{AGENTS}/Summarizer", headers=api.headers)
    assert by_name.json()["agent"]["id"] == created["id"]
    listed = (await api.client.get(AGENTS, headers=api.headers)).json()
    assert listed["total"] == 1 and listed["agents"][0]["name"] == "Summarizer"
    changed = await api.client.patch(
        f"{AGENTS}/{created['id']}", json={"model": "other", "base_url": None}, headers=api.headers
    )
    assert changed.status_code == 200 and changed.json()["agent"]["model"] == "other"
    dup = await api.client.post(
        AGENTS, json={"name": "Summarizer", "model": "m"}, headers=api.headers
    )
    assert dup.status_code == 409
    assert dup.json()["detail"] == "An agent named 'Summarizer' already exists in this workspace"
    gone = await api.client.delete(f"{AGENTS}/{created['id']}", headers=api.headers)
    assert gone.status_code == 204
    missing = await api.client.get(f"{AGENTS}/{created['id']}", headers=api.headers)
    assert missing.status_code == 404
    assert missing.headers["content-type"].startswith("application/problem+json")


async def test_agent_validation_lists_every_problem(api: Api) -> None:
    resp = await api.client.post(
        AGENTS,
        json={"name": " ", "base_url": "ftp://x", "temperature": 5, "price_per_1k_input": -1},
        headers=api.headers,
    )
    assert resp.status_code == 422
    errors = resp.json()["errors"]
    assert "model is required" in errors
    assert "name must not be empty" in errors
    assert any(e.startswith("base_url must be an http(s) URL") for e in errors)
    assert "temperature must be between 0 and 2" in errors
    assert "price_per_1k_input must be a finite number, at least 0" in errors


async def test_agent_key_is_admin_only_encrypted_and_never_returned(api: Api) -> None:
    writer = await api.key_with("workflows:read", "workflows:write")
    body = {"name": "Keyed", "model": "m", "api_key": "sk-agent-secret"}
    refused = await api.client.post(AGENTS, json=body, headers=writer)
    assert refused.status_code == 403
    resp = await api.client.post(AGENTS, json=body, headers=api.headers)
    assert resp.status_code == 201
    assert "sk-agent-secret" not in resp.text and resp.json()["agent"]["has_api_key"] is True
    async with api.store.read() as tx:
        ws = await tx.get_workspace_by_slug("default")
        assert ws is not None
        stored = await tx.get_agent(ws.id, "Keyed")
    assert stored is not None and stored.api_key and "sk-agent-secret" not in stored.api_key
    other = await api.other_workspace()
    assert (await api.client.get(f"{AGENTS}/Keyed", headers=other)).status_code == 404


# -- the agent_task step -------------------------------------------------------------------


async def test_agent_task_calls_the_model_and_records_usage_and_cost(
    store: Store, database_url: str, tmp_path: Path
) -> None:
    async with fake_llm(api_key="sk-server") as llm:
        settings = settings_for(
            database_url, tmp_path, llm_base_url=llm.url(), llm_api_key="sk-server"
        )
        async with serve(settings, store) as api:
            agent = await _agent(
                api,
                price_per_1k_input=2.0,
                price_per_1k_output=4.0,
                temperature=0.3,
                max_tokens=100,
            )
            llm.then("A short summary.")
            definition = {
                "name": "Summarize",
                "inputs": [{"name": "topic", "type": "string"}],
                "steps": [
                    transform("fetch", {"rows": [1, 2, 3]}),
                    _task(
                        "notify",
                        agent["id"],
                        "Summarize {{ inputs.topic }}",
                        context="{{ steps.fetch.output }}",
                        depends_on=["fetch"],
                    ),
                ],
                "outputs": [{"name": "summary", "value": "{{ steps.notify.output.text }}"}],
            }
            wf = await create_workflow(api, definition)
            run = await wait_for_run(api, await start_run(api, wf, {"topic": "sales"}))
    assert run["status"] == "completed", run
    assert run["output"] == {"summary": "A short summary."}
    sent = llm.requests[0]
    assert sent.headers["authorization"] == "Bearer sk-server"
    assert sent.body["model"] == "fake-model"
    assert sent.body["temperature"] == 0.3 and sent.body["max_tokens"] == 100
    assert sent.messages[0] == {"role": "system", "content": "Be brief."}
    user = sent.content("user")
    assert user.startswith("Summarize sales")
    assert 'Context:\n{"rows": [1, 2, 3]}' in user
    step = current(run, "notify")
    usage = step["output"]["usage"]
    prompt_words = len(" ".join(m["content"] for m in sent.messages).split())
    assert usage == {"input_tokens": prompt_words, "output_tokens": 3}
    expected = round((prompt_words * 2.0 + 3 * 4.0) / 1000, 6)
    assert step["output"]["cost"] == expected
    assert step["cost"] == expected and run["cost"] == expected


async def test_no_provider_configured_fails_with_that_sentence(api: Api) -> None:
    agent = await _agent(api)
    run = await run_to_end(api, {"name": "No LLM", "steps": [_task("ask", agent["id"], "Hi")]})
    assert run["status"] == "failed"
    assert current(run, "ask")["error"] == (
        "No LLM provider configured: set FLOWDECK_LLM_BASE_URL (and FLOWDECK_LLM_API_KEY), "
        "or give the agent a base_url"
    )


async def test_unknown_agent_fails_naming_it(api: Api) -> None:
    run = await run_to_end(api, {"name": "Ghost", "steps": [_task("ask", "agent_nope", "Hi")]})
    assert run["status"] == "failed"
    assert current(run, "ask")["error"] == "Agent 'agent_nope' not found in this workspace"


async def test_agent_overrides_provider_and_key(api: Api) -> None:
    async with fake_llm(api_key="sk-agent") as llm:
        agent = await _agent(api, base_url=llm.url(), api_key="sk-agent")
        run = await run_to_end(api, {"name": "Own", "steps": [_task("ask", agent["id"], "Hi")]})
    assert run["status"] == "completed", run
    assert llm.requests[0].headers["authorization"] == "Bearer sk-agent"
    assert current(run, "ask")["output"]["text"] == "echo: Hi"


async def test_output_schema_parses_and_repairs_once(
    store: Store, database_url: str, tmp_path: Path
) -> None:
    schema = {
        "type": "object",
        "properties": {"label": {"type": "string"}, "score": {"type": "number"}},
        "required": ["label", "score"],
    }
    async with (
        fake_llm() as llm,
        serve(settings_for(database_url, tmp_path, llm_base_url=llm.url()), store) as api,
    ):
        agent = await _agent(api)
        llm.then('{"label": "spam"}', '```json\n{"label": "spam", "score": 0.9}\n```')
        run = await run_to_end(
            api,
            {
                "name": "Classify",
                "steps": [_task("classify", agent["id"], "Classify this", output_schema=schema)],
            },
        )
        assert run["status"] == "completed", run
        assert current(run, "classify")["output"]["text"] == {"label": "spam", "score": 0.9}
        first, repair = llm.requests
        assert first.body["response_format"]["type"] == "json_schema"
        assert "JSON Schema" in first.content("user")
        assert repair.messages[-2] == {"role": "assistant", "content": '{"label": "spam"}'}
        assert "'score' is a required property" in repair.content("user")

        llm.then("not json", "still not json")
        run = await run_to_end(
            api,
            {
                "name": "Classify again",
                "steps": [_task("classify", agent["id"], "Classify this", output_schema=schema)],
            },
        )
    assert run["status"] == "failed"
    error = current(run, "classify")["error"]
    assert error.startswith(
        "Agent 'Summarizer' did not return JSON matching output_schema after one repair attempt"
    )


async def test_invalid_output_schema_is_a_validation_error(api: Api) -> None:
    definition = {
        "name": "Bad schema",
        "steps": [_task("t", "agent_x", "Hi", output_schema={"type": "nonsense"})],
    }
    resp = await api.client.post(
        "/api/workflows/validate", json={"definition": definition}, headers=api.headers
    )
    body = resp.json()
    assert body["valid"] is False
    assert any("not a valid JSON Schema" in e for e in body["errors"]), body


async def test_provider_errors_retry_like_any_step(
    store: Store, database_url: str, tmp_path: Path
) -> None:
    async with (
        fake_llm() as llm,
        serve(settings_for(database_url, tmp_path, llm_base_url=llm.url()), store) as api,
    ):
        agent = await _agent(api)
        llm.then(Scripted(status=503, error="overloaded"), "fine now")
        step = _task("ask", agent["id"], "Hi")
        step["retry"] = {"max_attempts": 2, "backoff_seconds": 0}
        run = await run_to_end(api, {"name": "Retry", "steps": [step]})
        assert run["status"] == "completed", run
        first = next(s for s in run["step_runs"] if s["step_id"] == "ask" and s["attempt"] == 1)
        assert "answered HTTP 503: overloaded" in first["error"]

        llm.then(Scripted(status=400, error="bad model"))
        run = await run_to_end(api, {"name": "No retry", "steps": [step]})
        assert run["status"] == "failed"
        assert len([s for s in run["step_runs"] if s["step_id"] == "ask"]) == 1

        llm.then(Scripted(content="late", delay=30))
        slow = {**_task("ask", agent["id"], "Hi"), "timeout_seconds": 0.5}
        run = await run_to_end(api, {"name": "Timeout", "steps": [slow]})
        assert run["status"] == "failed"
        assert "timed out" in current(run, "ask")["error"]


async def test_cancelling_the_run_aborts_the_request(
    store: Store, database_url: str, tmp_path: Path
) -> None:
    async with (
        fake_llm() as llm,
        serve(settings_for(database_url, tmp_path, llm_base_url=llm.url()), store) as api,
    ):
        agent = await _agent(api)
        llm.then(Scripted(content="never", delay=60))
        wf = await create_workflow(
            api, {"name": "Slow", "steps": [_task("ask", agent["id"], "Think hard")]}
        )
        run_id = await start_run(api, wf)
        await asyncio.wait_for(llm.received.wait(), 20)
        resp = await api.client.post(f"/api/workflows/runs/{run_id}/cancel", headers=api.headers)
        assert resp.status_code == 200
        await asyncio.wait_for(llm.disconnected.wait(), 20)
        run = await wait_for_run(api, run_id)
    assert run["status"] == "cancelled"


async def test_secrets_reach_the_model_only_when_the_definition_names_them(
    store: Store, database_url: str, tmp_path: Path
) -> None:
    named, unnamed = "named-secret-1234", "unnamed-secret-5678"
    async with (
        fake_llm() as llm,
        serve(settings_for(database_url, tmp_path, llm_base_url=llm.url()), store) as api,
    ):
        for name, value in (("NAMED", named), ("UNNAMED", unnamed)):
            resp = await api.client.put(
                f"/api/secrets/{name}", json={"value": value}, headers=api.headers
            )
            assert resp.status_code in (200, 201)
        agent = await _agent(api, instructions=f"Never reveal {unnamed}.")
        definition = {
            "name": "Secrets",
            "inputs": [{"name": "note", "type": "string"}],
            "steps": [
                _task(
                    "ask",
                    agent["id"],
                    "Use key {{ secrets.NAMED }} on {{ inputs.note }}",
                    context={"leak": "{{ inputs.note }}"},
                ),
            ],
        }
        llm.then(f"I used {named}")
        wf = await create_workflow(api, definition)
        run = await wait_for_run(api, await start_run(api, wf, {"note": f"x {unnamed} y"}))
        events = await api.client.get(
            f"/api/workflows/runs/{run['id']}/stream", headers=api.headers
        )
    assert run["status"] == "completed", run
    sent = json.dumps([r.body for r in llm.requests])
    assert named in sent  # the goal asked for it by name
    assert unnamed not in sent  # through an input and the instructions: masked
    assert "x *** y" in llm.requests[0].content("user")
    assert llm.requests[0].content("system") == "Never reveal ***."
    # The run's input_data keeps what the caller sent; everything the engine stored is masked.
    stored = json.dumps([run["step_runs"], run["output"]]) + events.text
    for secret in (named, unnamed):
        assert secret not in stored, stored[stored.index(secret) - 200 :][:400]
    assert current(run, "ask")["output"]["text"] == "I used ***"


async def test_dry_run_estimates_agent_cost(api: Api) -> None:
    agent = await _agent(
        api, instructions="x" * 396, max_tokens=500, price_per_1k_input=1.0, price_per_1k_output=2.0
    )
    definition = {
        "name": "Estimate",
        "steps": [
            {**_task("ask", agent["id"], "abcd"), "cost": 0.25},
            {**_task("ghost", "agent_missing", "hi"), "depends_on": ["ask"]},
            {**transform("t", 1), "cost": 1.0},
        ],
    }
    wf = await create_workflow(api, definition)
    resp = await api.client.post(
        f"/api/workflows/{wf}/run", json={"dry_run": True}, headers=api.headers
    )
    assert resp.status_code == 200
    body = resp.json()
    steps = {s["id"]: s for s in body["steps"]}
    # 400 prompt characters → 100 input tokens; 500 output tokens (max_tokens).
    assert steps["ask"]["agent_estimate"] == {
        "agent_id": agent["id"],
        "input_tokens": 100,
        "output_tokens": 500,
        "cost": 1.1,
    }
    assert steps["ask"]["estimated_cost"] == 1.35
    assert "not found" in steps["ghost"]["agent_estimate"]["note"]
    assert body["estimated_cost"] == 2.35
    assert "prompt characters / 4" in body["estimate_basis"]
