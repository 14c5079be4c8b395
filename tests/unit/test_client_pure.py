"""The client's pure parts: the slug rule, problems to error families, stream positions."""

from __future__ import annotations

import pytest
from httpx_sse import ServerSentEvent

from flowdeck import errors
from flowdeck.client.apply import create_body, slugify, split, target, update_body
from flowdeck.client.errors import Problem, ServerError, problem_error
from flowdeck.client.wire import STREAM_RETRIES, StreamPosition
from flowdeck.services.workflows import slugify as server_slugify


@pytest.mark.parametrize(
    "name", ["Fetch and notify", "  Ünïcode — names!  ", "runs", "???", "a" * 120, "Trash"]
)
def test_the_client_derives_slugs_as_the_server_does(name: str) -> None:
    assert slugify(name) == server_slugify(name)


def test_metadata_at_the_top_of_a_file_becomes_the_workflows_fields() -> None:
    doc = {"name": "X", "slug": "x1", "tags": ["a"], "schedules": [], "steps": []}
    definition, fields = split(doc)
    assert definition == {"name": "X", "schedules": [], "steps": []}
    assert fields == {"slug": "x1", "tags": ["a"]}
    assert create_body(doc)["slug"] == "x1" and "slug" not in update_body(doc)
    assert create_body({"name": "Nice Name", "steps": []})["slug"] == "nice-name"
    assert target({"name": "Nice Name"}) == "nice-name"


@pytest.mark.parametrize(
    ("status", "code", "family"),
    [
        (404, "not_found", errors.NotFound),
        (409, "conflict", errors.Conflict),
        (422, "invalid", errors.InvalidInput),
        (400, "malformed_json", errors.BadRequest),
        (401, "unauthorized", errors.Unauthorized),
        (403, "forbidden", errors.Forbidden),
        (412, "precondition_failed", errors.PreconditionFailed),
        (429, "rate_limited", errors.RateLimited),
        (503, "database_unwritable", errors.DatabaseBusy),
        (405, "method_not_allowed", errors.BadRequest),
        (500, "internal", ServerError),
        (502, None, ServerError),
    ],
)
def test_problems_map_to_error_families(
    status: int, code: str | None, family: type[Exception]
) -> None:
    body = (
        {"type": f"urn:flowdeck:problem:{code}", "detail": "d", "errors": ["e"]} if code else None
    )
    exc = problem_error(Problem.from_answer(status, body, "fallback"), retry_after=3)
    assert isinstance(exc, family) and exc.problem.status == status
    assert exc.detail == ("d" if code else "fallback")


def test_a_stream_position_skips_repeats_and_knows_when_it_is_over() -> None:
    pos = StreamPosition()
    assert pos.headers() == {}
    assert pos.take(ServerSentEvent("run_started", '{"a": 1}', "1")) is not None
    assert pos.take(ServerSentEvent("run_started", "{}", "1")) is None  # seen already
    assert pos.headers() == {"Last-Event-ID": "1"} and not pos.ended_cleanly()
    assert pos.take(ServerSentEvent("run_completed", "{}", "2")) is not None
    assert pos.ended_cleanly()
    pos.connected()
    broke = [pos.broke("http://x", OSError("cut")) for _ in range(STREAM_RETRIES)]
    assert broke == sorted(broke) and max(broke) <= 2.0
    with pytest.raises(errors.FlowdeckError, match="Cannot reach"):
        pos.broke("http://x", OSError("cut"))
