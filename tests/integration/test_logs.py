"""Structured logs: every record logged while a step runs names its run and step."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest

from flowdeck.logs import LogFormat, stream_handler
from tests.integration.conftest import Api
from tests.integration.runs_helpers import (
    create_workflow,
    http_get,
    start_run,
    wait_for_run,
)
from tests.support.peer import Reply, running_peer

RETRY = {"max_attempts": 2, "backoff_seconds": 0.01}


class Captured:
    """Lines a handler on the root logger wrote."""

    def __init__(self) -> None:
        self.stream = io.StringIO()

    def lines(self) -> list[str]:
        return [line for line in self.stream.getvalue().splitlines() if line]

    def records(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.lines()]


def _capture(fmt: LogFormat) -> Iterator[Captured]:
    captured = Captured()
    handler = stream_handler(captured.stream, fmt)
    root = logging.getLogger()
    # flowdeck's own lines, and a library's (httpx narrates each request at INFO).
    loggers = [logging.getLogger("flowdeck"), logging.getLogger("httpx")]
    levels = [lg.level for lg in loggers]
    root.addHandler(handler)
    for lg in loggers:
        lg.setLevel(logging.INFO)
    try:
        yield captured
    finally:
        root.removeHandler(handler)
        for lg, level in zip(loggers, levels, strict=True):
            lg.setLevel(level)


@pytest.fixture
def json_logs() -> Iterator[Captured]:
    yield from _capture("json")


@pytest.fixture
def text_logs() -> Iterator[Captured]:
    yield from _capture("text")


async def _flaky_run(api: Api) -> tuple[str, str]:
    async with running_peer() as peer:
        peer.then("/flaky", Reply(status=503), Reply(body={"ok": 1}))
        wf = await create_workflow(
            api, {"name": "Flaky", "steps": [http_get("fetch", peer.url("/flaky"), retry=RETRY)]}
        )
        run_id = await start_run(api, wf)
        assert (await wait_for_run(api, run_id))["status"] == "completed"
    return wf, run_id


async def test_json_lines_carry_run_and_step_ids(api: Api, json_logs: Captured) -> None:
    wf, run_id = await _flaky_run(api)
    records = [r for r in json_logs.records() if r.get("run_id") == run_id]

    # A library's line logged inside the step (httpx) carries the step's context.
    requests = [r for r in records if r["logger"] == "httpx"]
    assert [r["attempt"] for r in requests] == [1, 2]
    assert all(r["step_id"] == "fetch" and r["worker_id"] for r in requests)

    failed = [r for r in records if r["message"].startswith("step failed")]
    assert [(r["level"], r["step_id"], r["attempt"]) for r in failed] == [("WARNING", "fetch", 1)]
    assert "HTTP 503" in failed[0]["message"]
    retrying = [r for r in records if r["message"].startswith("step retrying")]
    assert [(r["level"], r["step_id"]) for r in retrying] == [("WARNING", "fetch")]

    [finished] = [r for r in records if r["message"] == f"run {run_id} completed"]
    assert finished["level"] == "INFO"
    assert finished["workflow_id"] == wf and finished["status"] == "completed"
    assert finished["duration_seconds"] >= 0
    assert all(r["time"].endswith("+00:00") for r in records)


async def test_text_lines_carry_them_too(api: Api, text_logs: Captured) -> None:
    _, run_id = await _flaky_run(api)
    failed = [line for line in text_logs.lines() if "step failed" in line]
    assert len(failed) == 1
    assert f"run_id={run_id} step_id=fetch attempt=1 worker_id=" in failed[0]
