"""One root error; each family carries a code, an HTTP-like status and whether a retry helps."""

from __future__ import annotations

from collections.abc import Sequence


class FlowdeckError(Exception):
    """Root of every error Flowdeck raises on purpose."""

    code = "error"
    status = 500
    title = "Internal error"
    retryable = False
    retry_after = 1  # seconds, sent as `Retry-After` when `retryable`

    def __init__(self, detail: str, *, errors: Sequence[str] = ()) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors = list(errors)


class BadRequest(FlowdeckError):
    """The request cannot be understood (malformed JSON, bad parameter)."""

    code, status, title = "bad_request", 400, "Bad request"


class Unauthorized(FlowdeckError):
    """No credentials, or credentials that do not match a live key."""

    code, status, title = "unauthorized", 401, "Unauthorized"


class Forbidden(FlowdeckError):
    """The credentials lack a needed scope."""

    code, status, title = "forbidden", 403, "Forbidden"


class NotFound(FlowdeckError):
    """The object does not exist in the caller's workspace."""

    code, status, title = "not_found", 404, "Not found"


class Conflict(FlowdeckError):
    """The request conflicts with the current state (duplicate name, wrong status)."""

    code, status, title = "conflict", 409, "Conflict"


class PreconditionFailed(FlowdeckError):
    """An `If-Match` precondition did not hold."""

    code, status, title = "precondition_failed", 412, "Precondition failed"


class PayloadTooLarge(FlowdeckError):
    """The request body is over the configured limit."""

    code, status, title = "payload_too_large", 413, "Payload too large"


class RateLimited(FlowdeckError):
    """Too many requests from this key or address; `retry_after` says when to try again."""

    code, status, title, retryable = "rate_limited", 429, "Too many requests", True

    def __init__(self, detail: str, *, retry_after: int) -> None:
        super().__init__(detail)
        self.retry_after = max(1, retry_after)


class InvalidInput(FlowdeckError):
    """The input breaks the schema or the rules; `errors` lists every problem."""

    code, status, title = "invalid", 422, "Validation failed"


class DatabaseBusy(FlowdeckError):
    """The database could not serve the request now; trying again can help.

    `in_doubt`: the connection broke during COMMIT, so the transaction may have committed;
    only an idempotent caller should simply run it again.
    """

    code, status, title, retryable = "database_busy", 503, "Database busy", True

    def __init__(self, detail: str, *, in_doubt: bool = False) -> None:
        super().__init__(detail)
        self.in_doubt = in_doubt


class DatabaseUnwritable(FlowdeckError):
    """The database answers but refuses writes (disk full, read-only, locked)."""

    code, status, title, retryable = "database_unwritable", 503, "Database not writable", True
