"""Every error leaves the API as RFC 9457 problem+json; routers never build error bodies."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from flowdeck.errors import FlowdeckError

log = logging.getLogger("flowdeck.api")
PROBLEM_JSON = "application/problem+json"


def problem(
    status: int,
    title: str,
    detail: str,
    *,
    code: str,
    errors: Sequence[str] = (),
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    """A problem+json response."""
    body: dict[str, Any] = {
        "type": f"urn:flowdeck:problem:{code}",
        "title": title,
        "status": status,
        "detail": detail,
    }
    if errors:
        body["errors"] = list(errors)
    return JSONResponse(
        body, status_code=status, media_type=PROBLEM_JSON, headers=dict(headers or {})
    )


def _location(loc: Sequence[Any]) -> str:
    parts = [str(p) for p in loc]
    if parts and parts[0] in ("body", "query", "path", "header"):
        where, rest = parts[0], parts[1:]
        text = "".join(f"[{p}]" if p.isdigit() else f".{p}" for p in rest).lstrip(".")
        return f"{where} {text}".strip() if where != "body" else (text or "body")
    return ".".join(parts)


def validation_sentences(errors: Sequence[Any]) -> list[str]:
    """Pydantic/FastAPI error dicts as `<where>: <message>` sentences."""
    out = []
    for err in errors:
        where = _location(err.get("loc", ()))
        msg = err.get("msg", "is invalid")
        if err.get("type") == "extra_forbidden":
            msg = "Unknown field"
        out.append(f"{where}: {msg}" if where else msg)
    return out


async def _flowdeck_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, FlowdeckError)
    headers = {"Retry-After": str(exc.retry_after)} if exc.retryable else None
    return problem(
        exc.status, exc.title, exc.detail, code=exc.code, errors=exc.errors, headers=headers
    )


async def _request_validation(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = list(exc.errors())
    if any(e.get("type") == "json_invalid" for e in errors):
        detail = next(e for e in errors if e.get("type") == "json_invalid")
        ctx = detail.get("ctx") or {}
        return problem(
            400,
            "Malformed JSON",
            f"The request body is not valid JSON: {ctx.get('error', 'parse error')}",
            code="malformed_json",
        )
    return problem(
        422,
        "Validation failed",
        "The request does not match the schema",
        code="invalid",
        errors=validation_sentences(errors),
    )


async def _http_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    titles = {404: "Not found", 405: "Method not allowed"}
    title = titles.get(exc.status_code, "HTTP error")
    detail = exc.detail if isinstance(exc.detail, str) else title
    if exc.status_code == 404 and detail == "Not Found":
        detail = "No such endpoint"
    return problem(
        exc.status_code, title, detail, code=title.lower().replace(" ", "_"), headers=exc.headers
    )


async def _unhandled(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return problem(500, "Internal error", "An unexpected error occurred", code="internal")


def install(app: FastAPI) -> None:
    """Register the problem+json handlers on `app`."""
    app.add_exception_handler(FlowdeckError, _flowdeck_error)
    app.add_exception_handler(RequestValidationError, _request_validation)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unhandled)
