"""Between the client and the server: where to connect, reading answers, following a run's
Server-Sent Events (resumed with `Last-Event-ID` when the connection drops)."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Any

import httpx
from httpx_sse import ServerSentEvent

from flowdeck.client.calls import Call
from flowdeck.client.errors import (
    ConnectionFailed,
    Problem,
    UnexpectedAnswer,
    problem_error,
)
from flowdeck.client.shapes import RunEvent

DEFAULT_SERVER = "http://127.0.0.1:8700"
SERVER_ENV = "FLOWDECK_SERVER"
API_KEY_ENV = "FLOWDECK_API_KEY"
# Events after which a run's stream ends (a resumed run logs more after a `run_failed`).
FINAL_EVENTS = frozenset({"run_completed", "run_failed", "run_cancelled"})
# Reconnections in a row that deliver no event before `events` gives up.
STREAM_RETRIES = 8


@dataclass(frozen=True)
class Connection:
    """Which server, with which key; unset values come from FLOWDECK_SERVER and
    FLOWDECK_API_KEY, then the default local server."""

    base_url: str
    api_key: str | None = None
    timeout: float = 30.0

    @classmethod
    def resolve(
        cls, base_url: str | None = None, api_key: str | None = None, timeout: float = 30.0
    ) -> Connection:
        """Arguments first, then the environment."""
        url = base_url or os.environ.get(SERVER_ENV) or DEFAULT_SERVER
        key = api_key or os.environ.get(API_KEY_ENV) or None
        return cls(url.rstrip("/"), key, timeout)

    def client_options(self) -> dict[str, Any]:
        """Keyword arguments for `httpx.Client` / `httpx.AsyncClient`."""
        headers = {"User-Agent": f"flowdeck-client/{_version()}"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        return {"base_url": self.base_url, "headers": headers, "timeout": self.timeout}


def _version() -> str:
    from flowdeck import __version__

    return __version__


def request_options(call: Call) -> dict[str, Any]:
    """Keyword arguments for `client.request(...)`."""
    options: dict[str, Any] = {"params": call.params, "headers": call.headers}
    if call.body is not None:
        options["json"] = call.body
    return options


def connection_failed(base_url: str, exc: Exception) -> ConnectionFailed:
    """The error for a request that got no answer."""
    reason = str(exc) or type(exc).__name__
    return ConnectionFailed(f"Cannot reach the Flowdeck server at {base_url}: {reason}")


def _json_body(response: httpx.Response) -> Any:
    kind = response.headers.get("content-type", "")
    if "json" not in kind:
        return None
    try:
        return response.json()
    except ValueError:
        return None


def read_answer(response: httpx.Response) -> Any:
    """The JSON of a success (None for 204); the error family of a failure."""
    if response.status_code >= 400:
        body = _json_body(response)
        fallback = f"HTTP {response.status_code} from {response.request.url}"
        problem = Problem.from_answer(response.status_code, body, fallback)
        retry = response.headers.get("Retry-After", "")
        raise problem_error(problem, retry_after=int(retry) if retry.isdigit() else None)
    if response.status_code == 204 or not response.content:
        return None
    body = _json_body(response)
    if body is None:
        kind = response.headers.get("content-type", "no content type")
        raise UnexpectedAnswer(
            f"{response.request.url} answered {response.status_code} with {kind}, not JSON: "
            "is this a Flowdeck server?"
        )
    return body


def object_answer(response: httpx.Response) -> dict[str, Any]:
    """`read_answer` for routes that answer an object."""
    body = read_answer(response)
    if not isinstance(body, dict):
        raise UnexpectedAnswer(f"{response.request.url} answered {type(body).__name__}")
    return body


class StreamPosition:
    """Where the reader of a run's events is, across reconnections."""

    def __init__(self, after: int = 0) -> None:
        self.last = after
        self.final = False
        self.delivered = 0  # events on the current connection
        self.failures = 0  # connections in a row that broke before an event

    def headers(self) -> dict[str, str]:
        """`Last-Event-ID` for the next connection."""
        return {"Last-Event-ID": str(self.last)} if self.last else {}

    def connected(self) -> None:
        self.delivered = 0

    def take(self, sse: ServerSentEvent) -> RunEvent | None:
        """The run event in `sse`, or None for one already seen or not a run event."""
        try:
            seq = int(sse.id)
        except (TypeError, ValueError):
            return None
        if seq <= self.last:
            return None
        try:
            data = json.loads(sse.data) if sse.data else {}
        except ValueError:
            data = {"raw": sse.data}
        self.last, self.delivered, self.failures = seq, self.delivered + 1, 0
        self.final = sse.event in FINAL_EVENTS
        return RunEvent(seq, sse.event, data if isinstance(data, dict) else {"value": data})

    def ended_cleanly(self) -> bool:
        """The server closed the stream: True when it is over (its final event came, or a
        fresh connection had nothing more), False to connect again."""
        return self.final or self.delivered == 0

    def broke(self, base_url: str, exc: Exception) -> float:
        """The connection broke: the pause before the next one, or ConnectionFailed."""
        self.failures += 1
        if self.failures > STREAM_RETRIES:
            raise connection_failed(base_url, exc) from exc
        return min(0.1 * 2.0 ** (self.failures - 1), 2.0)


STREAM_ERRORS: tuple[type[Exception], ...] = (httpx.TransportError,)


def check_stream_answer(response: httpx.Response) -> None:
    """Raise the problem a stream request answered instead of events."""
    if response.status_code >= 400:
        response.read()
        read_answer(response)


async def acheck_stream_answer(response: httpx.Response) -> None:
    """`check_stream_answer` for an async response."""
    if response.status_code >= 400:
        await response.aread()
        read_answer(response)


def stream_timeout(connection: Connection) -> httpx.Timeout:
    """Connect as usual; read allowing for the server's 15-second pings."""
    return httpx.Timeout(connection.timeout, read=max(connection.timeout, 45.0))
