"""Transient database errors are retried, not answered with 500 or 503.

Against real PostgreSQL: every backend of the test database is terminated between requests, so
the pooled connections the next requests take are dead; they still succeed. And through a small
app built on the same route class: what is retried, what is not (a committed write, a COMMIT
whose outcome is unknown), and the 503 with Retry-After when the database stays away.
"""

from __future__ import annotations

import httpx
import pytest
import sqlalchemy as sa
from fastapi import APIRouter, FastAPI

from flowdeck.api import problems
from flowdeck.api.retry import ATTEMPTS, RetryingRoute
from flowdeck.errors import DatabaseBusy
from flowdeck.store.dialect import sync_url
from flowdeck.store.store import Store
from tests.integration.conftest import Api
from tests.integration.runs_helpers import create_workflow, start_run, transform, wait_for_run


def terminate_other_backends(database_url: str) -> int:
    """Kill every other connection to the test database, as a failover or restart would."""
    engine = sa.create_engine(sync_url(database_url), poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            killed = conn.execute(
                sa.text(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
            ).scalar_one()
            return int(killed)
    finally:
        engine.dispose()


async def test_requests_after_the_database_dropped_every_connection_succeed(
    api: Api, database_url: str, is_postgres: bool
) -> None:
    if not is_postgres:
        pytest.skip("terminating backends needs PostgreSQL")
    wf = await create_workflow(api, {"name": "Survivor", "steps": [transform("a", 1)]})
    for _ in range(3):
        assert terminate_other_backends(database_url) > 0
        listed = await api.client.get("/api/workflows", headers=api.headers)
        assert listed.status_code == 200, listed.text
        run_id = await start_run(api, wf)
        run = await wait_for_run(api, run_id)
        assert run["status"] == "completed"
    runs = await api.client.get(f"/api/workflows/{wf}/runs", headers=api.headers)
    assert runs.status_code == 200
    assert len(runs.json()["runs"]) == 3  # each start ran once: nothing was doubled


def app_with(router: APIRouter) -> httpx.AsyncClient:
    app = FastAPI()
    problems.install(app)
    app.include_router(router)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t")


async def test_the_route_retries_until_the_database_answers() -> None:
    calls = 0
    router = APIRouter(route_class=RetryingRoute)

    @router.post("/flaky")
    async def flaky(body: dict[str, int]) -> dict[str, int]:
        nonlocal calls
        calls += 1
        if calls < 3:
            raise DatabaseBusy("connection lost")
        return {"got": body["n"], "calls": calls}

    async with app_with(router) as client:
        resp = await client.post("/flaky", json={"n": 7})
    assert resp.status_code == 200
    assert resp.json() == {"got": 7, "calls": 3}  # the body was read again on each attempt


async def test_a_database_that_stays_away_is_a_503_with_retry_after() -> None:
    calls = 0
    router = APIRouter(route_class=RetryingRoute)

    @router.get("/down")
    async def down() -> None:
        nonlocal calls
        calls += 1
        raise DatabaseBusy("The database is busy or was unreachable; try again")

    async with app_with(router) as client:
        resp = await client.get("/down")
    assert resp.status_code == 503
    assert resp.headers["content-type"].startswith("application/problem+json")
    assert resp.headers["retry-after"] == "1"
    assert calls == ATTEMPTS


async def test_a_commit_with_an_unknown_outcome_is_not_run_again() -> None:
    calls = 0
    router = APIRouter(route_class=RetryingRoute)

    @router.post("/in-doubt")
    async def in_doubt() -> None:
        nonlocal calls
        calls += 1
        raise DatabaseBusy("broke while committing", in_doubt=True)

    async with app_with(router) as client:
        resp = await client.post("/in-doubt")
    assert resp.status_code == 503
    assert calls == 1


async def test_a_handler_whose_write_committed_is_not_run_again(store: Store) -> None:
    calls = 0
    router = APIRouter(route_class=RetryingRoute)

    @router.post("/half-done")
    async def half_done() -> None:
        nonlocal calls
        calls += 1
        async with store.write() as tx:
            await tx.get_workspace_by_slug("default")
        raise DatabaseBusy("the second transaction lost its connection")

    async with app_with(router) as client:
        resp = await client.post("/half-done")
    assert resp.status_code == 503
    assert calls == 1
