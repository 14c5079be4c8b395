"""Logging for Flowdeck processes: text or JSON lines, with run and step ids on every record.

The worker binds the ids of the step it executes (`bind_log_context`) for the rest of that
step's task; `ContextFilter`, on every handler, copies them onto each record, whichever library
logged it. One dictConfig (`logging_config`) serves the root logger and uvicorn's loggers, so
the server's own lines come out in the same format.
"""

from __future__ import annotations

import logging
import logging.config
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from types import MappingProxyType
from typing import Any, Literal, TextIO

from pythonjsonlogger.core import RESERVED_ATTRS
from pythonjsonlogger.json import JsonFormatter

LogFormat = Literal["text", "json"]
# Context fields, in the order text lines show them.
CONTEXT_FIELDS = ("run_id", "step_id", "attempt", "worker_id", "workflow_id", "request_id")
_EMPTY: Mapping[str, Any] = MappingProxyType({})
_context: ContextVar[Mapping[str, Any]] = ContextVar("flowdeck_log_context", default=_EMPTY)
# Masks a step's secrets in every record logged while it runs (set with `bind_log_redactor`).
_redactor: ContextVar[Callable[[str], str] | None] = ContextVar(
    "flowdeck_log_redactor", default=None
)
# Libraries that narrate every request at INFO: quiet unless DEBUG is asked for.
_CHATTY = ("httpx", "httpcore", "mcp", "alembic", "sse_starlette")


def bind_log_context(**fields: Any) -> None:
    """Add fields to every record logged from now on in this task (or thread)."""
    _context.set(MappingProxyType({**_context.get(), **fields}))


def bind_log_redactor(redact: Callable[[str], str]) -> None:
    """Mask text with `redact` in every record logged from now on in this task: the message,
    its arguments and any traceback, whichever library logged it."""
    _redactor.set(redact)


@contextmanager
def log_context(**fields: Any) -> Iterator[None]:
    """Add fields to every record logged inside the block."""
    token = _context.set(MappingProxyType({**_context.get(), **fields}))
    try:
        yield
    finally:
        _context.reset(token)


class ContextFilter(logging.Filter):
    """Copies the bound context onto each record (fields given with `extra=` win) and masks
    the bound redactor's secrets in it."""

    def filter(self, record: logging.LogRecord) -> bool:
        for key, value in _context.get().items():
            if key not in record.__dict__:
                setattr(record, key, value)
        redact = _redactor.get()
        if redact is not None:
            _redact_record(record, redact)
        return True


def _redact_record(record: logging.LogRecord, redact: Callable[[str], str]) -> None:
    record.msg, record.args = redact(record.getMessage()), None
    if record.exc_info and not record.exc_text:
        record.exc_text = logging.Formatter().formatException(record.exc_info)
    # Formatters print exc_text when exc_info is gone (the JSON one would re-format it).
    record.exc_info = None
    if record.exc_text:
        record.exc_text = redact(record.exc_text)
    if record.stack_info:
        record.stack_info = redact(record.stack_info)


class TextFormatter(logging.Formatter):
    """`time level logger message key=value…`, the context fields appended."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        line = super().formatMessage(record)
        extra = [f"{k}={record.__dict__[k]}" for k in CONTEXT_FIELDS if k in record.__dict__]
        return f"{line} {' '.join(extra)}" if extra else line


def json_formatter() -> JsonFormatter:
    """One JSON object per line: time, level, logger, message, then every extra field."""
    return JsonFormatter(
        "%(levelname)s %(name)s %(message)s",
        rename_fields={"levelname": "level", "name": "logger"},
        timestamp="time",
        # uvicorn attaches a colourised copy of each message; the plain one is enough.
        reserved_attrs=[*RESERVED_ATTRS, "color_message"],
    )


def text_formatter() -> TextFormatter:
    """The human format."""
    return TextFormatter("%(asctime)s %(levelname)s %(name)s %(message)s")


def logging_config(fmt: LogFormat, level: str) -> dict[str, Any]:
    """A dictConfig for the whole process (uvicorn takes it as `log_config`)."""
    level = level.upper()
    quiet = level if level == "DEBUG" else "WARNING"
    factory = json_formatter if fmt == "json" else text_formatter
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"context": {"()": ContextFilter}},
        "formatters": {"default": {"()": factory}},
        "handlers": {
            "default": {
                "class": "logging.StreamHandler",
                "formatter": "default",
                "filters": ["context"],
                "stream": "ext://sys.stderr",
            }
        },
        "loggers": {
            "uvicorn": {"handlers": [], "level": level, "propagate": True},
            "uvicorn.error": {"handlers": [], "level": level, "propagate": True},
            "uvicorn.access": {"handlers": [], "level": level, "propagate": True},
            **{name: {"level": quiet} for name in _CHATTY},
        },
        "root": {"handlers": ["default"], "level": level},
    }


def configure_logging(fmt: LogFormat, level: str) -> None:
    """Send every logger of the process to stderr in `fmt` at `level`."""
    logging.config.dictConfig(logging_config(fmt, level))


def stream_handler(stream: TextIO, fmt: LogFormat = "json") -> logging.Handler:
    """A handler writing to `stream` in `fmt`, with the context filter (for embedding, tests)."""
    handler = logging.StreamHandler(stream)
    handler.setFormatter(json_formatter() if fmt == "json" else text_formatter())
    handler.addFilter(ContextFilter())
    return handler
