"""The run event stream (SSE): names, sequence ids, replay, Last-Event-ID, live following."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest

from tests.integration.conftest import Api
from tests.integration.runs_helpers import (
    RUNS,
    SseEvent,
    StreamingASGITransport,
    create_workflow,
    get_run,
    http_get,
    read_sse,
    start_run,
    transform,
    wait,
    wait_for_run,
)
from tests.support.peer import Reply, running_peer


@pytest.fixture
async def live(api: Api) -> AsyncIterator[httpx.AsyncClient]:
    """A client on the same app whose responses stream as the app sends them."""
    app = api.client._transport.app  # the app the `api` fixture serves
    async with httpx.AsyncClient(
        transport=StreamingASGITransport(app), base_url="http://flowdeck.test"
    ) as client:
        yield client


def names(events: list[SseEvent]) -> list[tuple[str, str | None]]:
    return [(e.event, e.data.get("step_id")) for e in events]


async def test_replay_of_a_finished_run(api: Api) -> None:
    definition = {
        "name": "Two steps",
        "steps": [transform("a", 1), transform("b", "{{ steps.a.output + 1 }}", depends_on=["a"])],
    }
    run_id = await start_run(api, await create_workflow(api, definition))
    run = await wait_for_run(api, run_id)
    assert run["status"] == "completed"
    events = await read_sse(api.client, run_id, api.headers)
    assert names(events) == [
        ("run_started", None),
        ("step_started", "a"),
        ("step_completed", "a"),
        ("step_started", "b"),
        ("step_completed", "b"),
        ("run_completed", None),
    ]
    assert [e.id for e in events] == list(range(1, len(events) + 1))
    assert all(e.data["run_id"] == run_id for e in events)
    assert all(e.data["timestamp"].endswith("Z") for e in events)
    assert events[2].data["output"] == 1 and events[2].data["attempt"] == 1
    assert events[-1].data["status"] == "completed"

    # Replaying again gives the same log.
    assert await read_sse(api.client, run_id, api.headers) == events


async def test_last_event_id_replays_only_later_events(api: Api) -> None:
    definition = {
        "name": "Chain",
        "steps": [transform("a", 1), transform("b", 2, depends_on=["a"])],
    }
    run_id = await start_run(api, await create_workflow(api, definition))
    await wait_for_run(api, run_id)
    everything = await read_sse(api.client, run_id, api.headers)
    later = await read_sse(api.client, run_id, api.headers, last_event_id=3)
    assert later == everything[3:]
    assert [e.id for e in later] == list(range(4, len(everything) + 1))
    # After the final event the stream has nothing more to say, and ends.
    assert await read_sse(api.client, run_id, api.headers, last_event_id=len(everything)) == []


async def test_the_stream_follows_a_running_run_live(api: Api, live: httpx.AsyncClient) -> None:
    definition = {
        "name": "Live",
        "steps": [wait("nap", 3600), transform("after", 1, depends_on=["nap"])],
    }
    run_id = await start_run(api, await create_workflow(api, definition))
    seen_while_active: list[str] = []

    async def on_event(event: SseEvent) -> None:
        # Events arrive while the run is still going: steer it from here.
        if event.event == "step_waiting":
            seen_while_active.append((await get_run(api, run_id))["status"])
            resp = await api.client.post(f"{RUNS}/{run_id}/pause", headers=api.headers)
            assert resp.status_code == 200, resp.text
        elif event.event == "run_paused":
            seen_while_active.append((await get_run(api, run_id))["status"])
            resp = await api.client.post(f"{RUNS}/{run_id}/cancel", headers=api.headers)
            assert resp.status_code == 200, resp.text

    events = await asyncio.wait_for(read_sse(live, run_id, api.headers, on_event=on_event), 20)
    assert seen_while_active == ["waiting", "paused"]
    assert names(events) == [
        ("run_started", None),
        ("step_started", "nap"),
        ("step_waiting", "nap"),
        ("run_paused", None),
        ("run_cancelled", None),
    ]
    assert [e.id for e in events] == [1, 2, 3, 4, 5]


async def test_live_stream_of_a_short_wait_ends_with_run_completed(
    api: Api, live: httpx.AsyncClient
) -> None:
    definition = {
        "name": "Short wait",
        "steps": [wait("nap", 0.3), transform("after", 1, depends_on=["nap"])],
    }
    run_id = await start_run(api, await create_workflow(api, definition))
    events = await asyncio.wait_for(read_sse(live, run_id, api.headers), 20)
    assert names(events) == [
        ("run_started", None),
        ("step_started", "nap"),
        ("step_waiting", "nap"),
        ("step_started", "nap"),
        ("step_completed", "nap"),
        ("step_started", "after"),
        ("step_completed", "after"),
        ("run_completed", None),
    ]
    assert [e.id for e in events] == list(range(1, 9))


async def test_live_stream_from_last_event_id(api: Api, live: httpx.AsyncClient) -> None:
    run_id = await start_run(
        api, await create_workflow(api, {"name": "Resume stream", "steps": [wait("nap", 3600)]})
    )
    await wait_for_run(api, run_id, {"waiting"})

    async def on_event(event: SseEvent) -> None:
        if event.event == "step_waiting":
            await api.client.post(f"{RUNS}/{run_id}/cancel", headers=api.headers)

    events = await asyncio.wait_for(
        read_sse(live, run_id, api.headers, last_event_id=2, on_event=on_event), 20
    )
    assert [(e.id, e.event) for e in events] == [(3, "step_waiting"), (4, "run_cancelled")]


async def test_stream_of_an_unknown_run_is_404(api: Api) -> None:
    resp = await api.client.get(f"{RUNS}/run_missing/stream", headers=api.headers)
    assert resp.status_code == 404


async def test_a_resumed_run_streams_past_its_earlier_failure(api: Api) -> None:
    async with running_peer() as peer:
        peer.then("/once", Reply(status=400), Reply(body="ok"))
        definition = {
            "name": "Fail then resume",
            "steps": [transform("a", 1), http_get("b", peer.url("/once"), depends_on=["a"])],
        }
        run_id = await start_run(api, await create_workflow(api, definition))
        assert (await wait_for_run(api, run_id))["status"] == "failed"
        first = await read_sse(api.client, run_id, api.headers)
        assert first[-1].event == "run_failed"
        resp = await api.client.post(f"{RUNS}/{run_id}/resume", json={}, headers=api.headers)
        assert resp.status_code == 200, resp.text
        assert (await wait_for_run(api, run_id))["status"] == "completed"
    events = await read_sse(api.client, run_id, api.headers)
    # The log holds both passes; the stream ends after the last final event, not the first.
    assert events[: len(first)] == first
    assert [(e.event, e.data.get("step_id")) for e in events[len(first) :]] == [
        ("run_resumed", None),
        ("step_started", "b"),
        ("step_completed", "b"),
        ("run_completed", None),
    ]
    assert [e.id for e in events] == list(range(1, len(events) + 1))
    later = await read_sse(api.client, run_id, api.headers, last_event_id=first[-1].id)
    assert later == events[len(first) :]
