"""Rate limits (SPEC §5, §9): per key, per address without a key, failed authentications per
address, open SSE streams per key; health and metrics are never limited."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

import httpx
import pytest
from fastapi import FastAPI

from flowdeck.api.app import create_app
from flowdeck.config import Settings
from flowdeck.domain.clock import SystemClock
from flowdeck.services.auth import AuthService
from flowdeck.store.store import Store
from tests.integration.conftest import Api
from tests.integration.runs_helpers import (
    StreamingASGITransport,
    create_workflow,
    start_run,
    wait,
)

PER_MINUTE = 5
FAILURES = 3
STREAMS = 2
BASE = "http://flowdeck.test"

ClientFor = Callable[[str], AbstractAsyncContextManager[httpx.AsyncClient]]


@asynccontextmanager
async def app_with(
    settings: Settings, store: Store, **limits: int
) -> AsyncIterator[tuple[FastAPI, Api]]:
    """The app with these limits, and the admin key (its client comes from 127.0.0.1)."""
    secret = await AuthService(store, SystemClock()).bootstrap(None)
    assert secret is not None
    app = create_app(settings.model_copy(update=limits), store=store)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url=BASE) as client:
            yield app, Api(client=client, key=secret, store=store)


@pytest.fixture
async def limited(settings: Settings, store: Store) -> AsyncIterator[tuple[FastAPI, Api]]:
    """The app with low request limits."""
    _clear_of_window_edge()
    async with app_with(
        settings,
        store,
        rate_limit_per_minute=PER_MINUTE,
        auth_failures_per_minute=FAILURES,
    ) as pair:
        yield pair


@pytest.fixture
def client_from(limited: tuple[FastAPI, Api]) -> ClientFor:
    """A client on the limited app whose requests come from `address`."""
    app = limited[0]

    @asynccontextmanager
    async def open_client(address: str) -> AsyncIterator[httpx.AsyncClient]:
        transport = httpx.ASGITransport(app=app, client=(address, 123))
        async with httpx.AsyncClient(transport=transport, base_url=BASE) as client:
            yield client

    return open_client


def _clear_of_window_edge() -> None:
    # The limiter's minute windows start on the minute; a test that spends its allowance across
    # an edge would see the old window's weight fade. Start well inside a window.
    into = time.time() % 60
    if into > 50:
        time.sleep(60.5 - into)


def assert_limited(resp: httpx.Response) -> None:
    assert resp.status_code == 429, resp.text
    assert resp.headers["content-type"] == "application/problem+json"
    assert resp.json()["status"] == 429
    assert 1 <= int(resp.headers["retry-after"]) <= 60


async def test_a_key_over_its_allowance_gets_429_and_another_key_does_not(
    limited: tuple[FastAPI, Api],
) -> None:
    _, api = limited
    other = await api.key_with("workflows:read")
    for _ in range(PER_MINUTE):
        assert (await api.client.get("/api/workflows", headers=api.headers)).status_code == 200
    over = await api.client.get("/api/workflows", headers=api.headers)
    assert_limited(over)
    assert "rate limit of 5 requests a minute" in over.json()["detail"]
    # Another route, same key: the allowance is the key's, not the route's.
    assert_limited(await api.client.get("/api/me", headers=api.headers))
    # Another key from the same address is unaffected.
    assert (await api.client.get("/api/workflows", headers=other)).status_code == 200


async def test_a_workflow_token_spends_its_keys_allowance(limited: tuple[FastAPI, Api]) -> None:
    _, api = limited
    wf = await create_workflow(api, {"name": "Tokened", "steps": [wait("w", 1)]})
    token = (await api.client.post(f"/api/workflows/{wf}/token", headers=api.headers)).json()
    bearer = {"Authorization": f"Bearer {token['token']}"}
    for _ in range(PER_MINUTE - 2):
        assert (await api.client.get(f"/api/workflows/{wf}", headers=bearer)).status_code == 200
    assert_limited(await api.client.get(f"/api/workflows/{wf}", headers=bearer))
    assert_limited(await api.client.get("/api/workflows", headers=api.headers))


async def test_routes_without_a_key_are_limited_per_address(client_from: ClientFor) -> None:
    async with client_from("1.2.3.4") as first, client_from("5.6.7.8") as second:
        for _ in range(PER_MINUTE):
            resp = await first.get("/api/public/default/workflows/nothing-here")
            assert resp.status_code == 404
        assert_limited(await first.get("/api/public/default/workflows/nothing-here"))
        # Inbound hooks share the address's allowance.
        assert_limited(await first.post("/api/hooks/wf_nothing", json={}))
        # Another address is unaffected.
        resp = await second.get("/api/public/default/workflows/nothing-here")
        assert resp.status_code == 404


async def test_ipv6_clients_are_counted_by_their_64_network(client_from: ClientFor) -> None:
    for i in range(PER_MINUTE):
        async with client_from(f"2001:db8:1:2::{i + 1:x}") as c:
            assert (await c.get("/api/public/default/workflows/x")).status_code == 404
    async with client_from("2001:db8:1:2:ffff::1") as same_net:
        assert_limited(await same_net.get("/api/public/default/workflows/x"))
    async with client_from("2001:db8:1:3::1") as other_net:
        assert (await other_net.get("/api/public/default/workflows/x")).status_code == 404


async def test_failed_authentications_are_limited_per_address(
    limited: tuple[FastAPI, Api], client_from: ClientFor
) -> None:
    _, api = limited
    wrong = {"Authorization": "Bearer fdk_guessed_key_that_does_not_exist"}
    async with client_from("6.6.6.6") as guesser, client_from("7.7.7.7") as bystander:
        for _ in range(FAILURES):
            assert (await guesser.get("/api/workflows", headers=wrong)).status_code == 401
        refused = await guesser.get("/api/workflows", headers=wrong)
        assert_limited(refused)
        assert "failed authentications" in refused.json()["detail"]
        # The address is refused before its key is even looked at, the right key included.
        assert_limited(await guesser.get("/api/workflows", headers=api.headers))
        # Another address with the right key is served.
        assert (await bystander.get("/api/workflows", headers=api.headers)).status_code == 200


async def test_failed_mcp_and_hook_authentications_count_too(client_from: ClientFor) -> None:
    wrong = {"Authorization": "Bearer fdk_nope", "Accept": "application/json, text/event-stream"}
    ping = {"jsonrpc": "2.0", "id": 1, "method": "ping"}
    async with client_from("8.8.4.4") as guesser:
        for _ in range(FAILURES):
            assert (await guesser.post("/mcp", json=ping, headers=wrong)).status_code == 401
        assert_limited(await guesser.post("/mcp", json=ping, headers=wrong))
        assert_limited(await guesser.get("/api/workflows", headers=wrong))


async def test_x_forwarded_for_is_believed_only_from_trusted_proxies(
    settings: Settings, store: Store
) -> None:
    wrong = {"Authorization": "Bearer fdk_nope"}
    async with app_with(
        settings.model_copy(update={"trusted_proxies": ("10.0.0.0/8",)}),
        store,
        auth_failures_per_minute=FAILURES,
    ) as (app, _):
        proxy = httpx.ASGITransport(app=app, client=("10.1.2.3", 1))
        stranger = httpx.ASGITransport(app=app, client=("1.2.3.4", 1))
        async with (
            httpx.AsyncClient(transport=proxy, base_url=BASE) as via_proxy,
            httpx.AsyncClient(transport=stranger, base_url=BASE) as direct,
        ):
            # Through the proxy, each client is counted on its own.
            for _ in range(FAILURES):
                resp = await via_proxy.get(
                    "/api/workflows", headers=wrong | {"X-Forwarded-For": "6.6.6.6, 10.9.9.9"}
                )
                assert resp.status_code == 401
            assert_limited(
                await via_proxy.get("/api/workflows", headers={"X-Forwarded-For": "6.6.6.6"})
            )
            resp = await via_proxy.get("/api/workflows", headers={"X-Forwarded-For": "7.7.7.7"})
            assert resp.status_code == 401
            # From anyone else the header is a claim, not an address: it cannot dodge the count.
            for n in range(FAILURES):
                resp = await direct.get(
                    "/api/workflows", headers=wrong | {"X-Forwarded-For": f"5.5.5.{n}"}
                )
                assert resp.status_code == 401
            assert_limited(
                await direct.get("/api/workflows", headers={"X-Forwarded-For": "5.5.5.99"})
            )


async def test_health_and_metrics_are_never_limited(client_from: ClientFor) -> None:
    wrong = {"Authorization": "Bearer fdk_nope"}
    async with client_from("9.9.9.9") as c:
        for _ in range(FAILURES):
            await c.get("/api/workflows", headers=wrong)
        assert_limited(await c.get("/api/workflows", headers=wrong))
        for _ in range(PER_MINUTE * 2):
            assert (await c.get("/healthz")).status_code == 200
        assert (await c.get("/readyz")).status_code == 200
        # Not limited (no 429): closed to a non-loopback client without FLOWDECK_METRICS_TOKEN.
        assert (await c.get("/metrics")).status_code == 403


async def test_a_keys_open_streams_are_capped_and_a_closed_one_frees_its_slot(
    settings: Settings, store: Store
) -> None:
    async with app_with(settings, store, max_streams_per_key=STREAMS) as (app, api):
        other = await api.key_with("workflows:read")
        workflow = await create_workflow(api, {"name": "Long wait", "steps": [wait("w", 300)]})
        path = f"/api/workflows/runs/{await start_run(api, workflow)}/stream"
        transport = StreamingASGITransport(app)
        async with httpx.AsyncClient(transport=transport, base_url=BASE) as live:

            async def open_stream(headers: dict[str, str]) -> httpx.Response:
                request = live.build_request("GET", path, headers=headers)
                return await live.send(request, stream=True)

            first, second = await open_stream(api.headers), await open_stream(api.headers)
            assert (first.status_code, second.status_code) == (200, 200)
            third = await open_stream(api.headers)
            await third.aread()
            assert_limited(third)
            assert "2 open run streams" in third.json()["detail"]
            # Another key has slots of its own.
            theirs = await open_stream(other)
            assert theirs.status_code == 200
            await theirs.aclose()
            # A closed stream gives its slot back (closing waits until the app has let go).
            await first.aclose()
            again = await open_stream(api.headers)
            assert again.status_code == 200
            for stream in (again, second):
                await stream.aclose()


async def test_a_limit_set_to_zero_is_off_and_the_others_still_hold(
    settings: Settings, store: Store
) -> None:
    async with app_with(
        settings, store, rate_limit_per_minute=0, auth_failures_per_minute=FAILURES
    ) as (_, api):
        for _ in range(30):
            assert (await api.client.get("/api/workflows", headers=api.headers)).status_code == 200
        for _ in range(FAILURES):
            assert (await api.client.get("/api/workflows")).status_code == 401
        assert_limited(await api.client.get("/api/workflows"))
