"""A server's problem+json answers as Flowdeck's own error families, plus the client's own.

`except flowdeck.errors.NotFound` catches a 404 from a server just as it catches one raised in
process; the answer itself is on the exception as `.problem`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from flowdeck import errors
from flowdeck.errors import FlowdeckError

PROBLEM_PREFIX = "urn:flowdeck:problem:"


@dataclass(frozen=True)
class Problem:
    """An RFC 9457 problem as the server sent it (`body` holds every field, known or not)."""

    type: str
    title: str
    status: int
    detail: str
    errors: list[str] = field(default_factory=list)
    body: dict[str, Any] = field(default_factory=dict)

    @property
    def code(self) -> str:
        """The short code after the `urn:flowdeck:problem:` prefix (`not_found`, `invalid`…)."""
        return self.type.removeprefix(PROBLEM_PREFIX)

    @classmethod
    def from_answer(cls, status: int, body: Any, fallback: str) -> Problem:
        """The problem in `body`, or one made up from the status when the body is not one."""
        data = body if isinstance(body, dict) else {}
        found = data.get("errors")
        return cls(
            type=str(data.get("type") or "about:blank"),
            title=str(data.get("title") or f"HTTP {status}"),
            status=int(data["status"]) if isinstance(data.get("status"), int) else status,
            detail=str(data.get("detail") or fallback),
            errors=[str(e) for e in found] if isinstance(found, list) else [],
            body=data,
        )


class ProblemAnswer(FlowdeckError):
    """The server answered with an error; mixed into each family below (listed first, so
    this constructor wins while the family gives `code`, `status` and `retryable`)."""

    def __init__(self, problem: Problem, *, retry_after: int | None = None) -> None:
        FlowdeckError.__init__(self, problem.detail, errors=problem.errors)
        self.problem = problem
        if retry_after is not None:
            self.retry_after = max(1, retry_after)

    def __str__(self) -> str:
        return "; ".join([self.detail, *self.errors])


class BadRequestAnswer(ProblemAnswer, errors.BadRequest):
    """400 from the server."""


class UnauthorizedAnswer(ProblemAnswer, errors.Unauthorized):
    """401 from the server."""


class ForbiddenAnswer(ProblemAnswer, errors.Forbidden):
    """403 from the server."""


class NotFoundAnswer(ProblemAnswer, errors.NotFound):
    """404 from the server."""


class ConflictAnswer(ProblemAnswer, errors.Conflict):
    """409 from the server."""


class PreconditionFailedAnswer(ProblemAnswer, errors.PreconditionFailed):
    """412 from the server."""


class PayloadTooLargeAnswer(ProblemAnswer, errors.PayloadTooLarge):
    """413 from the server."""


class InvalidAnswer(ProblemAnswer, errors.InvalidInput):
    """422 from the server: `errors` lists every problem."""


class RateLimitedAnswer(ProblemAnswer, errors.RateLimited):
    """429 from the server; `retry_after` from its header."""


class DatabaseBusyAnswer(ProblemAnswer, errors.DatabaseBusy):
    """503 from the server: its database could not serve the request now."""


class ServerError(ProblemAnswer):
    """Any other 5xx: the server failed; its log says why."""

    code, status, title = "server_error", 500, "Server error"


class ConnectionFailed(FlowdeckError):
    """The server could not be reached, or the connection broke before an answer."""

    code, status, title, retryable = "connection_failed", 503, "Connection failed", True


class UnexpectedAnswer(FlowdeckError):
    """The server answered something that is not Flowdeck's API (wrong URL, a proxy page)."""

    code, status, title = "unexpected_answer", 502, "Unexpected answer"


class WaitTimedOut(FlowdeckError):
    """`runs.wait` gave up before the run ended; `.run` is the run as last seen."""

    code, status, title, retryable = "wait_timed_out", 504, "Wait timed out", True

    def __init__(self, detail: str, run: Any) -> None:
        super().__init__(detail)
        self.run = run


_BY_CODE: dict[str, type[ProblemAnswer]] = {
    "bad_request": BadRequestAnswer,
    "malformed_json": BadRequestAnswer,
    "unauthorized": UnauthorizedAnswer,
    "forbidden": ForbiddenAnswer,
    "not_found": NotFoundAnswer,
    "conflict": ConflictAnswer,
    "precondition_failed": PreconditionFailedAnswer,
    "payload_too_large": PayloadTooLargeAnswer,
    "invalid": InvalidAnswer,
    "rate_limited": RateLimitedAnswer,
    "database_busy": DatabaseBusyAnswer,
    "database_unwritable": DatabaseBusyAnswer,
}
_BY_STATUS: dict[int, type[ProblemAnswer]] = {
    400: BadRequestAnswer,
    401: UnauthorizedAnswer,
    403: ForbiddenAnswer,
    404: NotFoundAnswer,
    409: ConflictAnswer,
    412: PreconditionFailedAnswer,
    413: PayloadTooLargeAnswer,
    422: InvalidAnswer,
    429: RateLimitedAnswer,
    503: DatabaseBusyAnswer,
}


def problem_error(problem: Problem, *, retry_after: int | None = None) -> ProblemAnswer:
    """The exception for a problem: by its `type` when Flowdeck's, else by its status."""
    cls = _BY_CODE.get(problem.code) if problem.type.startswith(PROBLEM_PREFIX) else None
    if cls is None or cls.status != problem.status:
        cls = _BY_STATUS.get(problem.status)
    if cls is None:
        cls = ServerError if problem.status >= 500 else BadRequestAnswer
    return cls(problem, retry_after=retry_after)
