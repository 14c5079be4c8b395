"""Every request is checked against `domain.limits` before its handler runs.

Path and query parameters and headers may not hold NUL characters (PostgreSQL refuses them in
text); a JSON body may not nest more than MAX_NESTING levels, nor hold NUL characters or
non-finite numbers. One check for every route, so no route can forget it: the answer is a 422
naming each offending field.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.routing import APIRoute

from flowdeck.domain.limits import NUL_SENTENCE, json_problems, too_deep_sentence
from flowdeck.errors import InvalidInput


def is_json(content_type: str | None) -> bool:
    """True for `application/json` and `application/*+json` (what FastAPI parses as JSON)."""
    media = (content_type or "").split(";", 1)[0].strip().lower()
    return media == "application/json" or (
        media.startswith("application/") and media.endswith("+json")
    )


def _text_problems(request: Request) -> list[str]:
    problems = [
        f"path {name}: {NUL_SENTENCE}"
        for name, value in request.path_params.items()
        if isinstance(value, str) and "\x00" in value
    ]
    problems += [
        f"query {name}: {NUL_SENTENCE}"
        for name, value in request.query_params.multi_items()
        if "\x00" in name or "\x00" in value
    ]
    problems += [
        f"header {name}: {NUL_SENTENCE}"
        for name, value in request.headers.items()
        if "\x00" in value
    ]
    return problems


async def check_request(request: Request, *, reads_body: bool) -> None:
    """Raise InvalidInput listing every NUL, over-deep or non-finite value of the request."""
    problems = _text_problems(request)
    if reads_body and is_json(request.headers.get("content-type")) and await request.body():
        try:
            # Starlette keeps the parsed body, so FastAPI does not parse it again.
            body = await request.json()
        except RecursionError:
            problems.append(too_deep_sentence("body"))
        except ValueError:
            pass  # malformed JSON: FastAPI answers 400 with the parser's message
        else:
            problems += json_problems(body)
    if problems:
        raise InvalidInput("The request holds values Flowdeck cannot accept", errors=problems)


class GuardedRoute(APIRoute):
    """An APIRoute that runs `check_request` before the handler (and its body parsing)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        reads_body = self.body_field is not None

        async def guarded(request: Request) -> Response:
            await check_request(request, reads_body=reads_body)
            return await handler(request)

        return guarded
