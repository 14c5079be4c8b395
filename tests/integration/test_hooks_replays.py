"""Inbound webhook replays: the legacy scheme's opt-in, replay records kept in the database (and
purged), and identical deliveries racing on one or several servers."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest

from flowdeck.api.app import create_app
from flowdeck.config import Settings
from flowdeck.services.lifecycle import LifecycleService
from flowdeck.store.store import Store
from tests.integration.conftest import Api
from tests.integration.hooks_helpers import (
    HOOKS,
    WF,
    echo,
    legacy,
    run_count,
    standard,
    webhook_workflow,
)
from tests.integration.test_lifecycle_api import FakeClock, app_with_clock, purge_settings
from tests.integration.test_workflows_api import assert_problem


async def test_legacy_signature_needs_the_workflows_opt_in(api: Api) -> None:
    wf_id, secret = await webhook_workflow(api)
    body = b'{"order": {"n": 1}}'
    post = api.client.post
    detail = await api.client.get(f"{WF}/{wf_id}", headers=api.headers)
    assert detail.json()["legacy_webhook_signature"] is False
    refused = assert_problem(
        await post(f"{HOOKS}/{wf_id}", content=body, headers=legacy(secret, body)), 403
    )
    assert "legacy_webhook_signature" in refused["detail"]
    wrong = legacy(secret, b'{"order": {"n": 2}}')
    assert_problem(await post(f"{HOOKS}/{wf_id}", content=body, headers=wrong), 401)
    assert await run_count(api, wf_id) == 0

    opt_in = {"legacy_webhook_signature": True}
    resp = await api.client.put(f"{WF}/{wf_id}", json=opt_in, headers=api.headers)
    assert resp.status_code == 200 and resp.json()["legacy_webhook_signature"] is True
    first = await post(f"{HOOKS}/{wf_id}", content=body, headers=legacy(secret, body))
    assert first.status_code == 202, first.text
    # The same (signature, body) again, even with the hex in capitals: refused.
    upper = legacy(secret, body)
    upper["X-Flowdeck-Signature"] = "sha256=" + upper["X-Flowdeck-Signature"][7:].upper()
    for headers in (legacy(secret, body), upper):
        again = assert_problem(await post(f"{HOOKS}/{wf_id}", content=body, headers=headers), 409)
        assert first.json()["run_id"] in again["detail"]
    other = b'{"order": {"n": 2}}'
    assert (await post(f"{HOOKS}/{wf_id}", content=other, headers=legacy(secret, other))).is_success
    assert_problem(await post(f"{HOOKS}/{wf_id}", content=body, headers=wrong), 401)
    assert await run_count(api, wf_id) == 2

    # Opting in at creation works too; opting out refuses the scheme again.
    born, born_secret = await webhook_workflow(api, echo("Legacy"), legacy_webhook_signature=True)
    assert (
        await post(f"{HOOKS}/{born}", content=body, headers=legacy(born_secret, body))
    ).is_success
    await api.client.put(
        f"{WF}/{born}", json={"legacy_webhook_signature": False}, headers=api.headers
    )
    assert_problem(
        await post(f"{HOOKS}/{born}", content=other, headers=legacy(born_secret, other)), 403
    )
    bad = {"legacy_webhook_signature": "sometimes"}
    assert_problem(await api.client.put(f"{WF}/{born}", json=bad, headers=api.headers), 422)


async def test_replay_records_last_their_window_and_are_purged(
    database_url: str, tmp_path: Path, store: Store
) -> None:
    clock = FakeClock()
    settings = purge_settings(database_url, tmp_path)
    async with app_with_clock(settings, store, clock) as (api, lifecycle):
        wf_id, secret = await webhook_workflow(api, legacy_webhook_signature=True)
        body = b'{"order": {}}'
        post = api.client.post

        async def send_legacy() -> int:
            resp = await post(f"{HOOKS}/{wf_id}", content=body, headers=legacy(secret, body))
            return resp.status_code

        async def send_standard() -> int:
            headers = standard(secret, body, msg_id="msg_once", at=clock.now())
            resp = await post(f"{HOOKS}/{wf_id}", content=body, headers=headers)
            return resp.status_code

        assert await send_legacy() == 202 and await send_standard() == 202
        clock.advance(hours=23)
        assert await send_legacy() == 409  # a legacy body is remembered for 24 hours
        assert await send_standard() == 409  # a webhook-id for 3 days
        assert await lifecycle.purge_webhook_deliveries() == 0
        clock.advance(hours=2)
        assert await send_legacy() == 202  # 25 hours on: a new delivery of the same body
        clock.advance(hours=25)
        assert await lifecycle.purge_webhook_deliveries() == 1  # that legacy record
        assert await send_standard() == 409
        clock.advance(hours=23)  # 73 hours after the first
        assert await lifecycle.purge_webhook_deliveries() == 1  # the webhook-id
        assert await lifecycle.purge_webhook_deliveries() == 0
        assert await send_standard() == 202
        assert await run_count(api, wf_id) == 4


async def test_concurrent_purges_remove_each_record_once(
    database_url: str, tmp_path: Path, store: Store
) -> None:
    clock = FakeClock()
    settings = purge_settings(database_url, tmp_path)
    async with app_with_clock(settings, store, clock) as (api, lifecycle):
        wf_id, secret = await webhook_workflow(api)
        for n in range(5):
            body = f'{{"order": {{"n": {n}}}}}'.encode()
            headers = standard(secret, body, at=clock.now())
            assert (
                await api.client.post(f"{HOOKS}/{wf_id}", content=body, headers=headers)
            ).is_success
        clock.advance(days=3, seconds=1)
        others = [
            LifecycleService(store, clock, lifecycle.runtime, lifecycle.box, settings)
            for _ in range(3)
        ]
        counts = await asyncio.gather(
            lifecycle.purge_webhook_deliveries(), *(o.purge_webhook_deliveries() for o in others)
        )
        assert sum(counts) == 5
        assert await lifecycle.purge_webhook_deliveries() == 0


async def _race(
    client: httpx.AsyncClient, path: str, body: bytes, headers: dict[str, str], n: int
) -> list[int]:
    replies = await asyncio.gather(
        *(client.post(path, content=body, headers=headers) for _ in range(n))
    )
    return [r.status_code for r in replies]


async def test_identical_concurrent_deliveries_start_one_run(api: Api) -> None:
    wf_id, secret = await webhook_workflow(api, legacy_webhook_signature=True)
    body = b'{"order": {"burst": true}}'
    codes = await _race(api.client, f"{HOOKS}/{wf_id}", body, standard(secret, body), 8)
    assert sorted(codes) == [202] + [409] * 7
    other = b'{"order": {"burst": "legacy"}}'
    codes = await _race(api.client, f"{HOOKS}/{wf_id}", other, legacy(secret, other), 8)
    assert sorted(codes) == [202] + [409] * 7
    assert await run_count(api, wf_id) == 2


async def test_two_servers_on_postgresql_start_one_run(
    api: Api, settings: Settings, database_url: str, is_postgres: bool
) -> None:
    if not is_postgres:
        pytest.skip("several servers share a database only on PostgreSQL")
    wf_id, secret = await webhook_workflow(api)
    body = b'{"order": {"servers": 2}}'
    headers = standard(secret, body)
    second_store = Store.from_url(database_url, pool_size=5)
    app = create_app(settings, store=second_store)
    try:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://two.test") as two:
                path = f"{HOOKS}/{wf_id}"
                results = await asyncio.gather(
                    _race(api.client, path, body, headers, 4), _race(two, path, body, headers, 4)
                )
    finally:
        await second_store.close()
    codes = sorted(results[0] + results[1])
    assert codes == [202] + [409] * 7
    assert await run_count(api, wf_id) == 1
