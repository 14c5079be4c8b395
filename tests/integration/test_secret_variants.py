"""A secret's common transformations are masked like the secret itself: template filters, a
script's encodings, an HTTP error message; in the run API, the SSE stream, MCP's
`get_workflow_run` and the log lines."""

from __future__ import annotations

import base64
import io
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus

import httpx
import pytest

from flowdeck.logs import stream_handler
from flowdeck.store.store import Store
from tests.integration.conftest import Api
from tests.integration.runs_helpers import (
    attempts,
    create_workflow,
    start_run,
    transform,
    wait_for_run,
)
from tests.integration.test_mcp import call, http_client, live_server
from tests.support.peer import Reply, running_peer

SECRET = "Sup3r/S3cret+Token=42&xyz"


def variants(secret: str = SECRET) -> dict[str, str]:
    """What a template, a script or a URL makes of the secret."""
    raw = secret.encode()
    return {
        "upper": secret.upper(),
        "lower": secret.lower(),
        "title": secret.title(),
        "reversed": secret[::-1],
        "slice": secret[3:19],
        "base64": base64.b64encode(raw).decode(),
        "base64url": base64.urlsafe_b64encode(raw).decode().rstrip("="),
        "hex": raw.hex(),
        "HEX": raw.hex().upper(),
        "url": quote(secret, safe=""),
        "form": quote_plus(secret),
        "basic": base64.b64encode(b"user:" + raw).decode(),
    }


def leaks(text: str) -> list[str]:
    """The names of the variants (and the secret) found in `text`."""
    found = [name for name, value in variants().items() if value in text]
    return found + (["secret"] if SECRET in text else [])


PYTHON = """
import base64, json, os
s = os.environ["S"].encode()
print(base64.b64encode(s).decode())
print(base64.urlsafe_b64encode(s).decode().rstrip("="))
print(s.hex().upper())
basic = base64.b64encode(b"user:" + s).decode()
print(json.dumps({"hex": s.hex(), "basic": basic, s.decode().upper(): "as a key"}))
"""

BASH = """
printf %s "$S" | base64
printf %s "$S" | xxd -p
printf 'Authorization: Basic %s\\n' "$(printf 'user:%s' "$S" | base64 -w0)"
printf %s "$S" | rev >&2
"""


def definition(peer_url: str) -> dict[str, Any]:
    env = {"S": "{{ secrets.API_TOKEN }}"}
    return {
        "name": "Spells a secret",
        "steps": [
            transform(
                "filters",
                {
                    "upper": "{{ secrets.API_TOKEN | upper }}",
                    "lower": "{{ secrets.API_TOKEN | lower }}",
                    "title": "{{ secrets.API_TOKEN | title }}",
                    "reversed": "{{ secrets.API_TOKEN | reverse }}",
                    "slice": "{{ secrets.API_TOKEN[3:19] }}",
                    "url": "{{ secrets.API_TOKEN | urlencode }}",
                },
            ),
            {
                "id": "py",
                "type": "script",
                "config": {"language": "python", "code": PYTHON, "env": env},
            },
            {
                "id": "sh",
                "type": "script",
                "config": {"language": "bash", "code": BASH, "env": env},
            },
            {
                "id": "call",
                "type": "http_request",
                "config": {
                    "url": peer_url,
                    "params": {"token": "{{ secrets.API_TOKEN }}"},
                    "expect_status": [200],
                },
                "retry": {"max_attempts": 2, "backoff_seconds": 0.01},
                "depends_on": ["filters", "py", "sh"],
            },
        ],
    }


@pytest.fixture
def logged() -> Iterator[io.StringIO]:
    """Every line the root logger writes while the test runs (JSON, as in production)."""
    stream = io.StringIO()
    handler = stream_handler(stream, "json")
    root = logging.getLogger()
    flowdeck = logging.getLogger("flowdeck")
    level = flowdeck.level
    root.addHandler(handler)
    flowdeck.setLevel(logging.INFO)
    try:
        yield stream
    finally:
        root.removeHandler(handler)
        flowdeck.setLevel(level)


async def _run(api: Api) -> dict[str, Any]:
    resp = await api.client.put(
        "/api/secrets/API_TOKEN", json={"value": SECRET}, headers=api.headers
    )
    assert resp.status_code in (200, 201), resp.text
    async with running_peer() as peer:
        body = {"echo": variants()["base64"], "hint": SECRET.upper()}
        peer.replies["/api"] = Reply(status=500, body=body, headers={"X-Seen": variants()["hex"]})
        wf = await create_workflow(api, definition(peer.url("/api")))
        run = await wait_for_run(api, await start_run(api, wf))
        # The secret did go out (the masking is of what Flowdeck keeps and shows).
        assert peer.requests[0].query == [("token", SECRET)]
    return dict(run)


async def test_transformed_secrets_are_masked_everywhere(api: Api, logged: io.StringIO) -> None:
    run = await _run(api)
    steps = {s["step_id"]: s for s in run["step_runs"] if s["current"]}
    assert {k: s["status"] for k, s in steps.items()} == {
        "filters": "completed",
        "py": "completed",
        "sh": "completed",
        "call": "failed",
    }, run
    assert leaks(json.dumps(run)) == []
    filters = steps["filters"]["output"]
    assert {filters[k] for k in ("upper", "lower", "title", "reversed", "slice", "url")} == {"***"}
    py = steps["py"]["output"]
    assert py["stdout"].splitlines()[:3] == ["***"] * 3
    assert py["result"]["hex"] == "***" and py["result"]["***"] == "as a key"  # keys too
    assert py["result"]["basic"].startswith("dXNlcj") and py["result"]["basic"].endswith("***")
    assert steps["sh"]["output"]["stdout"].splitlines()[:2] == ["***"] * 2
    assert steps["sh"]["output"]["stderr"].strip() == "***"
    assert steps["call"]["output"]["body"] == {"echo": "***", "hint": "***"}
    for attempt in attempts(run, "call"):
        assert "HTTP 500" in attempt["error"] and "***" in attempt["error"]
    stream = await api.client.get(f"/api/workflows/runs/{run['id']}/stream", headers=api.headers)
    assert "step_retrying" in stream.text and leaks(stream.text) == []
    lines = logged.getvalue()
    assert "step failed" in lines or "step retrying" in lines
    assert leaks(lines) == []


async def test_mcp_get_workflow_run_shows_no_transformed_secret(
    store: Store, database_url: str, tmp_path: Path
) -> None:
    async with live_server(store, database_url, tmp_path) as live:
        async with httpx.AsyncClient(base_url=live.url, timeout=30) as http:
            run = await _run(Api(client=http, key=live.key, store=store))
        async with http_client(live) as client:
            result = await call(client, "get_workflow_run", run_id=run["id"])
            text = result.content[0].text  # type: ignore[union-attr]
            assert run["id"] in text and "***" in text
            assert leaks(text) == []
            markdown = await call(
                client, "get_workflow_run", run_id=run["id"], response_format="markdown"
            )
            assert leaks(markdown.content[0].text) == []  # type: ignore[union-attr]
