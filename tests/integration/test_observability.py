"""What an operator watches: counters that move as runs end, HTTP request metrics, build info,
access logs in JSON, and a span per run and per step attempt."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from flowdeck import __version__
from flowdeck.engine import tracing
from flowdeck.logs import stream_handler
from flowdeck.store.store import Store
from flowdeck.telemetry import configure_tracing, tracer_provider
from tests.integration.conftest import Api
from tests.integration.runs_helpers import (
    RUNS,
    create_workflow,
    failing,
    serve,
    settings_for,
    start_run,
    transform,
    wait_for_run,
    wait_until,
)
from tests.integration.test_metrics import Samples, scrape


def _get(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


async def test_finished_counters_and_durations_move_as_runs_end(api: Api) -> None:
    ok = await create_workflow(
        api, {"name": "Two", "steps": [transform("a", 1), transform("b", 2, depends_on=["a"])]}
    )
    bad = await create_workflow(api, {"name": "Broken", "steps": [failing("boom")]})
    before = await scrape(api)
    for wf in (ok, ok, bad):
        await wait_for_run(api, await start_run(api, wf))
    after = await scrape(api)

    def moved(name: str, **labels: str) -> float:
        return _get(after, name, **labels) - _get(before, name, **labels)

    assert moved("flowdeck_runs_finished_total", status="completed") == 2
    assert moved("flowdeck_runs_finished_total", status="failed") == 1
    assert moved("flowdeck_runs_finished_total", status="cancelled") == 0
    assert moved("flowdeck_run_duration_seconds_count", status="completed") == 2
    assert moved("flowdeck_steps_finished_total", type="transform", status="completed") == 4
    assert moved("flowdeck_steps_finished_total", type="transform", status="failed") == 1
    assert moved("flowdeck_step_run_duration_seconds_count", type="transform", status="failed") == 1
    [info] = [k for k in after if k[0] == "flowdeck_build_info"]
    assert dict(info[1])["version"] == __version__


async def test_cancelled_runs_and_their_steps_are_counted(api: Api) -> None:
    gated = await create_workflow(
        api,
        {
            "name": "Gate",
            "steps": [{"id": "ok", "type": "approval", "config": {"message": "go?"}}],
        },
    )
    run_id = await start_run(api, gated)
    await wait_for_run(api, run_id, {"waiting"})
    before = await scrape(api)
    resp = await api.client.post(f"{RUNS}/{run_id}/cancel", headers=api.headers)
    assert resp.status_code == 200, resp.text
    after = await scrape(api)
    labels = {"type": "approval", "status": "cancelled"}
    assert (
        _get(after, "flowdeck_steps_finished_total", **labels)
        - _get(before, "flowdeck_steps_finished_total", **labels)
        == 1
    )
    cancelled = {"status": "cancelled"}
    assert (
        _get(after, "flowdeck_runs_finished_total", **cancelled)
        - _get(before, "flowdeck_runs_finished_total", **cancelled)
        == 1
    )


async def test_http_requests_are_measured_by_route_template(api: Api) -> None:
    wf = await create_workflow(api, {"name": "Http", "steps": [transform("a", 1)]})
    run_id = await start_run(api, wf)
    await wait_for_run(api, run_id)
    missing = await api.client.get(f"{RUNS}/run_nope", headers=api.headers)
    assert missing.status_code == 404
    samples = await scrape(api)
    route = f"{RUNS}/{{run_id}}"
    assert _get(samples, "flowdeck_http_requests_total", route=route, method="GET", status="200")
    assert _get(samples, "flowdeck_http_requests_total", route=route, method="GET", status="404")
    assert _get(samples, "flowdeck_http_request_duration_seconds_count", route=route, method="GET")
    routes = {dict(k).get("route") for (n, k) in samples if n == "flowdeck_http_requests_total"}
    assert not any(run_id in str(r) for r in routes)


@pytest.fixture
def access_lines() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    handler = stream_handler(stream, "json")
    logger = logging.getLogger("flowdeck.access")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield stream
    finally:
        logger.removeHandler(handler)
        logger.setLevel(logging.NOTSET)


async def test_json_logs_carry_one_access_line_per_request(
    database_url: str, tmp_path: Path, store: Store, access_lines: io.StringIO
) -> None:
    settings = settings_for(database_url, tmp_path, log_format="json")
    async with serve(settings, store) as api:
        resp = await api.client.get(
            "/api/workflows",
            params={"token": "query-secret-value"},
            headers={**api.headers, "X-Request-ID": "req-42"},
        )
        assert resp.status_code == 200
        assert resp.headers["x-request-id"] == "req-42"
        fresh = await api.client.get("/healthz")
        generated = fresh.headers["x-request-id"]
        assert len(generated) == 32
    text = access_lines.getvalue()
    assert "query-secret-value" not in text and api.key not in text
    records = [json.loads(line) for line in text.splitlines()]
    [listed] = [r for r in records if r["request_id"] == "req-42"]
    assert (listed["method"], listed["route"], listed["status"]) == ("GET", "/api/workflows", 200)
    assert listed["duration_seconds"] >= 0 and listed["logger"] == "flowdeck.access"
    assert any(r["request_id"] == generated and r["route"] == "/healthz" for r in records)


async def test_text_logs_have_no_access_lines_unless_asked(
    database_url: str, tmp_path: Path, store: Store, access_lines: io.StringIO
) -> None:
    async with serve(settings_for(database_url, tmp_path), store) as api:
        assert (await api.client.get("/healthz")).status_code == 200
        key = api.key
    assert access_lines.getvalue() == ""
    async with serve(settings_for(database_url, tmp_path, access_log=True), store, key) as api:
        assert (await api.client.get("/healthz")).status_code == 200
    assert '"route": "/healthz"' in access_lines.getvalue()


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    tracing.use_tracer_provider(tracer_provider(SimpleSpanProcessor(exporter)))
    try:
        yield exporter
    finally:
        tracing.use_tracer_provider(None)


async def test_a_traced_run_exports_its_span_and_one_per_step_attempt(
    api: Api, spans: InMemorySpanExporter
) -> None:
    wf = await create_workflow(
        api,
        {
            "name": "Traced",
            "steps": [
                transform("first", 1),
                transform("second", "{{ steps.first.output }}", depends_on=["first"]),
                failing("boom"),
            ],
        },
    )
    run_id = await start_run(api, wf)
    await wait_for_run(api, run_id)

    async def run_span() -> Any:
        found = [s for s in spans.get_finished_spans() if s.name == "flowdeck.run"]
        return found or None

    [run] = await wait_until(run_span)
    assert run.attributes["flowdeck.run_id"] == run_id
    assert run.attributes["flowdeck.run_status"] == "failed"
    assert run.attributes["flowdeck.workflow_id"] == wf
    assert run.status.status_code == StatusCode.ERROR
    assert run.parent is None and run.end_time >= run.start_time
    steps = [s for s in spans.get_finished_spans() if s.name == "flowdeck.step"]
    ours = {s.attributes["flowdeck.step_id"]: s for s in steps}
    assert sorted(ours) == ["boom", "first", "second"]
    for span in ours.values():
        assert span.attributes["flowdeck.run_id"] == run_id
        assert span.context.trace_id == run.context.trace_id
        assert span.parent is not None and span.parent.span_id == run.context.span_id
        assert span.attributes["flowdeck.step_run_id"].startswith("sr")
        assert span.attributes["flowdeck.attempt"] == 1
    assert ours["first"].attributes["flowdeck.outcome"] == "completed"
    assert ours["boom"].attributes["flowdeck.outcome"] == "failed"
    assert ours["boom"].status.status_code == StatusCode.ERROR


def test_without_an_endpoint_tracing_stays_off(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"):
        monkeypatch.delenv(name, raising=False)
    assert configure_tracing("flowdeck-test") is False
