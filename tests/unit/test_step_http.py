"""The http_request step against a real local HTTP server."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest

from flowdeck.engine.steps.base import StepFailed
from flowdeck.engine.steps.http_request import MAX_BODY_BYTES, HttpRequestHandler
from tests.support.peer import HttpPeer, Reply, refused_url
from tests.unit.step_helpers import (
    RUN_ID,
    STEP_ID,
    completed_output,
    make_context,
    redactor,
    step_failure,
)

handler = HttpRequestHandler()


async def run(http: httpx.AsyncClient, config: dict[str, Any], **kwargs: Any) -> Any:
    return await completed_output(handler, http, config, **kwargs)


async def fail(http: httpx.AsyncClient, config: dict[str, Any], **kwargs: Any) -> StepFailed:
    return await step_failure(handler, http, config, **kwargs)


def test_handler_identity() -> None:
    assert handler.type_name == "http_request"
    assert handler.config_model.__name__ == "HttpRequestConfig"


async def test_get_with_params_and_headers(peer: HttpPeer, http: httpx.AsyncClient) -> None:
    peer.replies["/items"] = Reply(body={"items": [1, 2]}, headers={"X-Custom": "yes"})
    config = {
        "method": "get",
        "url": peer.url("/items"),
        "params": {"q": "a b", "n": 3, "tag": ["x", "y"], "flag": True},
        "headers": {"Authorization": "Bearer t0k"},
    }
    output = await run(http, config)
    assert output["status_code"] == 200
    assert output["body"] == {"items": [1, 2]}
    assert output["headers"]["x-custom"] == "yes"
    assert all(name == name.lower() for name in output["headers"])
    [seen] = peer.requests
    assert seen.method == "GET"
    assert seen.query == [("q", "a b"), ("n", "3"), ("tag", "x"), ("tag", "y"), ("flag", "true")]
    assert seen.headers["authorization"] == "Bearer t0k"


async def test_params_add_to_the_query_in_the_url(peer: HttpPeer, http: httpx.AsyncClient) -> None:
    await run(http, {"url": peer.url("/s?a=1"), "params": {"b": {"k": 1}}})
    assert peer.requests[0].query == [("a", "1"), ("b", '{"k": 1}')]


async def test_idempotency_key_is_run_and_step(peer: HttpPeer, http: httpx.AsyncClient) -> None:
    await run(http, {"url": peer.url()})
    assert peer.requests[0].headers["idempotency-key"] == f"{RUN_ID}:{STEP_ID}"


async def test_user_idempotency_key_wins(peer: HttpPeer, http: httpx.AsyncClient) -> None:
    await run(http, {"url": peer.url(), "headers": {"idempotency-key": "mine"}})
    assert peer.requests[0].headers["idempotency-key"] == "mine"


async def test_json_post(peer: HttpPeer, http: httpx.AsyncClient) -> None:
    peer.replies["/create"] = Reply(status=201, body={"id": 7})
    config = {"method": "POST", "url": peer.url("/create"), "json": {"name": "ü", "n": [1]}}
    output = await run(http, config)
    assert output["status_code"] == 201
    assert output["body"] == {"id": 7}
    [seen] = peer.requests
    assert seen.method == "POST"
    assert seen.headers["content-type"] == "application/json"
    assert json.loads(seen.body) == {"name": "ü", "n": [1]}


async def test_raw_body_is_sent_as_is(peer: HttpPeer, http: httpx.AsyncClient) -> None:
    config = {"method": "PUT", "url": peer.url(), "body": "a=1&b=2"}
    await run(http, config)
    assert peer.requests[0].body == b"a=1&b=2"


async def test_text_response_stays_text(peer: HttpPeer, http: httpx.AsyncClient) -> None:
    peer.replies["/hello"] = Reply(body="hello, world")
    output = await run(http, {"url": peer.url("/hello")})
    assert output["body"] == "hello, world"
    assert output["headers"]["content-type"].startswith("text/plain")


async def test_json_without_json_content_type_is_decoded(
    peer: HttpPeer, http: httpx.AsyncClient
) -> None:
    peer.replies["/j"] = Reply(body='{"ok": true}', content_type="text/plain")
    output = await run(http, {"url": peer.url("/j")})
    assert output["body"] == {"ok": True}


async def test_non_2xx_without_expect_status_completes(
    peer: HttpPeer, http: httpx.AsyncClient
) -> None:
    peer.replies["/missing"] = Reply(status=404, body={"error": "nope"})
    output = await run(http, {"url": peer.url("/missing")})
    assert output["status_code"] == 404
    assert output["body"] == {"error": "nope"}


@pytest.mark.parametrize(("status", "retryable"), [(503, True), (429, True), (404, False)])
async def test_expect_status_mismatch_fails(
    peer: HttpPeer, http: httpx.AsyncClient, status: int, retryable: bool
) -> None:
    peer.replies["/x"] = Reply(status=status, body={"why": "busy"})
    url = peer.url("/x")
    failure = await fail(http, {"url": url, "expect_status": [200]})
    assert failure.message == f"HTTP {status} from GET {url}; expected one of [200]"
    assert failure.retryable is retryable
    assert failure.output["status_code"] == status
    assert failure.output["body"] == {"why": "busy"}


async def test_expect_status_match_completes(peer: HttpPeer, http: httpx.AsyncClient) -> None:
    peer.replies["/x"] = Reply(status=202)
    output = await run(http, {"url": peer.url("/x"), "expect_status": [200, 202]})
    assert output["status_code"] == 202


async def test_connection_refused_is_retryable(http: httpx.AsyncClient) -> None:
    url = refused_url()
    failure = await fail(http, {"url": url})
    assert failure.retryable is True
    assert f"GET {url}" in failure.message


async def test_transport_error_message_is_redacted(http: httpx.AsyncClient) -> None:
    url = refused_url() + "?token=s3cret"
    failure = await fail(http, {"url": url}, redact=redactor("s3cret"))
    assert "s3cret" not in failure.message
    assert "token=***" in failure.message


async def test_per_request_timeout_fails(peer: HttpPeer, http: httpx.AsyncClient) -> None:
    peer.replies["/slow"] = Reply(delay=10)
    failure = await fail(http, {"url": peer.url("/slow"), "timeout_seconds": 0.3})
    assert failure.retryable is True
    assert "timed out" in failure.message


async def test_cancellation_aborts_the_request(peer: HttpPeer, http: httpx.AsyncClient) -> None:
    peer.replies["/slow"] = Reply(delay=30)
    ctx = make_context({"url": peer.url("/slow")}, http=http, step_type="http_request")
    task = asyncio.create_task(handler.execute(ctx))
    await asyncio.wait_for(peer.received.wait(), 5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    # The server sees the connection close long before its 30 s reply.
    await asyncio.wait_for(peer.disconnected.wait(), 5)


async def test_templates_render_from_context(peer: HttpPeer, http: httpx.AsyncClient) -> None:
    config = {
        "method": "POST",
        "url": peer.url("/users/{{ steps.lookup.output.id }}"),
        "headers": {"X-Count": "{{ inputs.count }}"},
        "json": {"name": "{{ inputs.name }}", "tags": "{{ inputs.tags }}"},
    }
    context = {
        "inputs": {"name": "Ada", "count": 3, "tags": ["a", "b"]},
        "steps": {"lookup": {"output": {"id": 42}}},
    }
    await run(http, config, template_context=context)
    [seen] = peer.requests
    assert seen.path == "/users/42"
    assert seen.headers["x-count"] == "3"
    assert json.loads(seen.body) == {"name": "Ada", "tags": ["a", "b"]}


async def test_template_error_is_not_retryable(http: httpx.AsyncClient) -> None:
    failure = await fail(http, {"url": "http://x/{{ inputs.missing }}"}, template_context={})
    assert failure.retryable is False
    assert failure.message.startswith("Template error")


async def test_invalid_config_is_not_retryable(http: httpx.AsyncClient) -> None:
    failure = await fail(http, {"url": "http://x/", "json": {"a": 1}, "body": "b"})
    assert failure.retryable is False
    assert "json and body are mutually exclusive" in failure.message

    failure = await fail(http, {"method": "FETCH", "url": "http://x/"})
    assert failure.retryable is False
    assert failure.message.startswith("Invalid http_request config: method:")


async def test_unsupported_scheme_is_not_retryable(http: httpx.AsyncClient) -> None:
    failure = await fail(http, {"url": "ftp://example.com/file"})
    assert failure.retryable is False


async def test_body_over_the_cap_fails(peer: HttpPeer, http: httpx.AsyncClient) -> None:
    peer.replies["/big"] = Reply(body=b"x" * (MAX_BODY_BYTES + 1))
    failure = await fail(http, {"url": peer.url("/big")})
    assert failure.retryable is False
    assert "exceeds 10 MiB" in failure.message
    assert failure.output["status_code"] == 200


async def test_output_is_redacted(peer: HttpPeer, http: httpx.AsyncClient) -> None:
    peer.replies["/echo"] = Reply(body={"token": "s3cret"})
    output = await run(http, {"url": peer.url("/echo")}, redact=redactor("s3cret"))
    assert output["body"] == {"token": "***"}
