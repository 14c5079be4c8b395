"""The `http_request` step: call an HTTP API through the shared client (SPEC §3)."""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import json
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from flowdeck.domain.step_configs import HttpRequestConfig
from flowdeck.engine.egress import UNREACHABLE
from flowdeck.engine.steps.base import Completed, StepContext, StepFailed, StepOutcome
from flowdeck.engine.steps.common import as_text, redact_text, validated_config

MAX_BODY_BYTES = 10 * 1024 * 1024
IDEMPOTENCY_HEADER = "Idempotency-Key"


def with_header(headers: Mapping[str, str], name: str, value: str) -> dict[str, str]:
    """`headers` plus `name: value`, unless a header of that name (any case) is already set."""
    out = dict(headers)
    if not any(key.lower() == name.lower() for key in out):
        out[name] = value
    return out


def retryable_status(status: int) -> bool:
    """Whether another attempt could get a different answer: 5xx and 429."""
    return status >= 500 or status == 429


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def decode_body(raw: bytes, charset: str | None) -> Any:
    """The body as JSON when it parses as JSON, else as text."""
    encoding = "utf-8-sig"
    if charset:
        with contextlib.suppress(LookupError):
            encoding = codecs.lookup(charset).name
    text = raw.decode(encoding, errors="replace")
    if not text.strip():
        return text
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except (ValueError, RecursionError):
        return text


@dataclass(frozen=True)
class HttpReply:
    """A response read in full (up to MAX_BODY_BYTES)."""

    status_code: int
    headers: dict[str, str]
    body: Any


def describe(ctx: StepContext, request: httpx.Request) -> str:
    """`METHOD url`, with secrets masked, for messages."""
    return redact_text(ctx, f"{request.method} {request.url}")


def build_request(
    ctx: StepContext,
    method: str,
    url: str,
    *,
    timeout: float | None = None,
    params: Mapping[str, Any] | None = None,
    **kwargs: Any,
) -> httpx.Request:
    """An httpx request on the shared client; an unusable URL or body fails the step for good.

    `params` are added to the query already in `url` (httpx alone would replace it).
    """
    try:
        full_url = httpx.URL(url)
        if params:
            full_url = full_url.copy_merge_params(query_params(params))
        return ctx.env.http.build_request(
            method,
            full_url,
            timeout=httpx.USE_CLIENT_DEFAULT if timeout is None else timeout,
            **kwargs,
        )
    except (httpx.InvalidURL, TypeError, ValueError) as exc:
        message = f"Cannot build the request {method} {url}: {exc}"
        raise StepFailed(redact_text(ctx, message), retryable=False) from None


def _too_large(ctx: StepContext, response: httpx.Response, label: str) -> StepFailed:
    return StepFailed(
        f"Response body from {label} exceeds {MAX_BODY_BYTES // (1024 * 1024)} MiB",
        retryable=False,
        output=ctx.redact(
            {"status_code": response.status_code, "headers": dict(response.headers.items())}
        ),
    )


async def _read_capped(ctx: StepContext, response: httpx.Response, label: str) -> bytes:
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise _too_large(ctx, response, label)
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise _too_large(ctx, response, label)
        chunks.append(chunk)
    return b"".join(chunks)


class _Progress:
    """Whether the current hop got past connecting, from httpcore's `trace` extension."""

    def __init__(self) -> None:
        self.connected = False

    async def __call__(self, event: str, info: dict[str, Any]) -> None:
        if event.endswith(".connect_tcp.started"):
            self.connected = False
        elif event.endswith(".send_request_headers.started"):
            self.connected = True


def _is_tls_failure(exc: BaseException) -> bool:
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ssl.SSLError):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def transport_failure(ctx: StepContext, label: str, exc: httpx.TransportError) -> StepFailed:
    """How a transport error fails the step.

    Every failure to connect reads the same (egress.UNREACHABLE) and never carries the OS's
    words, so a step cannot tell a closed port from a refused address. TLS errors keep their
    text: a handshake happens only on a connection the guard allowed.
    """
    if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout) and not _is_tls_failure(exc):
        return StepFailed(f"{label} failed: {UNREACHABLE}", retryable=True)
    if isinstance(exc, httpx.TimeoutException):
        return StepFailed(f"{label} timed out ({type(exc).__name__})", retryable=True)
    if isinstance(exc, httpx.UnsupportedProtocol):
        return StepFailed(redact_text(ctx, f"{label}: {exc}"), retryable=False)
    reason = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    return StepFailed(redact_text(ctx, f"{label} failed: {reason}"), retryable=True)


async def exchange(
    ctx: StepContext,
    request: httpx.Request,
    deadline: float | None,
    *,
    follow_redirects: bool | None = None,
) -> HttpReply:
    """Send `request` on the shared client and read the reply; transport errors fail the step.

    `deadline` bounds the whole exchange, headers and body. Cancellation propagates and
    closes the connection, which aborts the request on the wire. `follow_redirects` None
    keeps the client's setting.
    """
    redirects = httpx.USE_CLIENT_DEFAULT if follow_redirects is None else follow_redirects
    label = describe(ctx, request)
    progress = _Progress()
    request.extensions["trace"] = progress  # redirect hops carry the request's extensions
    try:
        async with asyncio.timeout(deadline):
            response = await ctx.env.http.send(request, stream=True, follow_redirects=redirects)
            try:
                raw = await _read_capped(ctx, response, label)
            finally:
                await response.aclose()
    except TimeoutError:
        if not progress.connected:  # the deadline struck while connecting
            raise StepFailed(f"{label} failed: {UNREACHABLE}", retryable=True) from None
        after = f" after {deadline:g}s" if deadline is not None else ""
        raise StepFailed(f"{label} timed out{after}", retryable=True) from None
    except httpx.TransportError as exc:
        raise transport_failure(ctx, label, exc) from None
    except httpx.RequestError as exc:  # Undecodable content, too many redirects.
        reason = f"{type(exc).__name__}: {exc}"
        raise StepFailed(redact_text(ctx, f"{label} failed: {reason}"), retryable=False) from None
    return HttpReply(
        status_code=response.status_code,
        headers=dict(response.headers.items()),
        body=decode_body(raw, response.charset_encoding),
    )


def _query_value(value: Any) -> Any:
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return as_text(value)


def query_params(params: Mapping[str, Any]) -> dict[str, Any]:
    """Query parameters httpx accepts: lists repeat the name, objects are sent as JSON."""
    out: dict[str, Any] = {}
    for name, value in params.items():
        if isinstance(value, list | tuple):
            out[name] = [_query_value(item) for item in value]
        else:
            out[name] = _query_value(value)
    return out


class HttpRequestHandler:
    """Call an HTTP API; non-2xx answers complete unless `expect_status` says otherwise."""

    type_name = "http_request"
    config_model = HttpRequestConfig

    async def execute(self, ctx: StepContext) -> StepOutcome:
        """Send the request once and return status, headers and body."""
        config = await validated_config(
            ctx, HttpRequestConfig, text_maps=("headers",), texts=("body",)
        )
        request = build_request(
            ctx,
            config.method,
            config.url,
            timeout=config.timeout_seconds,
            headers=with_header(config.headers, IDEMPOTENCY_HEADER, ctx.idempotency_key),
            params=config.params,
            json=config.json_,
            content=config.body,
        )
        reply = await exchange(ctx, request, config.timeout_seconds)
        output = ctx.redact(
            {"status_code": reply.status_code, "headers": reply.headers, "body": reply.body}
        )
        expected = config.expect_status
        if expected is not None and reply.status_code not in expected:
            message = (
                f"HTTP {reply.status_code} from {describe(ctx, request)}; "
                f"expected one of {sorted(set(expected))}"
            )
            raise StepFailed(message, retryable=retryable_status(reply.status_code), output=output)
        return Completed(output)
