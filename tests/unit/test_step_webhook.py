"""The webhook step against a real local HTTP server."""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

import httpx
import pytest

from flowdeck.engine.steps.base import StepFailed
from flowdeck.engine.steps.webhook import WebhookHandler
from tests.support.peer import HttpPeer, Reply, refused_url
from tests.unit.step_helpers import (
    RUN_ID,
    STEP_ID,
    completed_output,
    redactor,
    step_failure,
)

handler = WebhookHandler()


async def run(http: httpx.AsyncClient, config: dict[str, Any], **kwargs: Any) -> Any:
    return await completed_output(handler, http, config, **kwargs)


async def fail(http: httpx.AsyncClient, config: dict[str, Any], **kwargs: Any) -> StepFailed:
    return await step_failure(handler, http, config, **kwargs)


def test_handler_identity() -> None:
    assert handler.type_name == "webhook"
    assert handler.config_model.__name__ == "WebhookConfig"


async def test_signed_post_verifies_over_the_received_body(
    peer: HttpPeer, http: httpx.AsyncClient
) -> None:
    peer.replies["/hook"] = Reply(body={"received": True})
    payload = {"event": "done", "name": "Zoë", "items": [1, 2.5, None]}
    config = {"url": peer.url("/hook"), "payload": payload, "secret": "shh"}
    output = await run(http, config)
    assert output == {"status_code": 200, "body": {"received": True}}
    [seen] = peer.requests
    assert seen.method == "POST"
    assert json.loads(seen.body) == payload
    assert b" " not in seen.body  # Compact separators.
    expected = hmac.new(b"shh", seen.body, hashlib.sha256).hexdigest()
    assert seen.headers["x-flowdeck-signature"] == f"sha256={expected}"
    assert seen.headers["content-type"] == "application/json"
    assert seen.headers["idempotency-key"] == f"{RUN_ID}:{STEP_ID}"


async def test_unsigned_without_secret(peer: HttpPeer, http: httpx.AsyncClient) -> None:
    await run(http, {"url": peer.url(), "payload": {"a": 1}, "headers": {"X-Extra": "1"}})
    [seen] = peer.requests
    assert "x-flowdeck-signature" not in seen.headers
    assert seen.headers["x-extra"] == "1"


async def test_payload_and_secret_are_rendered(peer: HttpPeer, http: httpx.AsyncClient) -> None:
    config = {
        "url": peer.url("/hook/{{ run.id }}"),
        "method": "put",
        "payload": {"total": "{{ steps.sum.output }}"},
        "secret": "{{ secrets.hook_key }}",
    }
    context = {"run": {"id": "r1"}, "steps": {"sum": {"output": 12}}, "secrets": {"hook_key": "k"}}
    await run(http, config, template_context=context)
    [seen] = peer.requests
    assert (seen.method, seen.path, seen.body) == ("PUT", "/hook/r1", b'{"total":12}')
    expected = hmac.new(b"k", seen.body, hashlib.sha256).hexdigest()
    assert seen.headers["x-flowdeck-signature"] == f"sha256={expected}"


async def test_text_reply_body(peer: HttpPeer, http: httpx.AsyncClient) -> None:
    peer.replies["/hook"] = Reply(status=204)
    output = await run(http, {"url": peer.url("/hook"), "payload": [1]})
    assert output == {"status_code": 204, "body": ""}


@pytest.mark.parametrize(
    ("status", "retryable"), [(400, False), (404, False), (429, True), (502, True)]
)
async def test_non_2xx_fails(
    peer: HttpPeer, http: httpx.AsyncClient, status: int, retryable: bool
) -> None:
    peer.replies["/hook"] = Reply(status=status, body={"error": "no"})
    url = peer.url("/hook")
    failure = await fail(http, {"url": url, "payload": {}})
    assert failure.retryable is retryable
    assert failure.message == f"HTTP {status} from POST {url}; expected 2xx"
    assert failure.output == {"status_code": status, "body": {"error": "no"}}


async def test_redirect_is_not_followed(peer: HttpPeer) -> None:
    peer.replies["/hook"] = Reply(status=307, headers={"Location": "/elsewhere"})
    async with httpx.AsyncClient(follow_redirects=True) as following:
        failure = await fail(following, {"url": peer.url("/hook"), "payload": {}})
    assert failure.retryable is False
    assert failure.output["status_code"] == 307
    assert [seen.path for seen in peer.requests] == ["/hook"]


async def test_connection_refused_is_retryable(http: httpx.AsyncClient) -> None:
    failure = await fail(http, {"url": refused_url(), "payload": {"a": 1}})
    assert failure.retryable is True
    assert "POST http://127.0.0.1:" in failure.message


async def test_secret_in_reply_is_redacted(peer: HttpPeer, http: httpx.AsyncClient) -> None:
    peer.replies["/hook"] = Reply(status=500, body="bad key s3cret")
    failure = await fail(http, {"url": peer.url("/hook")}, redact=redactor("s3cret"))
    assert failure.output["body"] == "bad key ***"


async def test_no_payload_sends_an_empty_body(peer: HttpPeer, http: httpx.AsyncClient) -> None:
    await run(http, {"url": peer.url(), "secret": "shh"})
    [seen] = peer.requests
    assert seen.body == b""
    expected = hmac.new(b"shh", b"", hashlib.sha256).hexdigest()
    assert seen.headers["x-flowdeck-signature"] == f"sha256={expected}"


async def test_invalid_config_is_not_retryable(http: httpx.AsyncClient) -> None:
    failure = await fail(http, {"payload": {}})
    assert failure.retryable is False
    assert failure.message == "Invalid webhook config: url: Field required"
