"""OpenTelemetry spans for runs and step attempts; nothing at all without the `otel` extra.

A run lives across transactions and processes, so its span is written when it ends (with its
real start and end times); each step attempt gets a span while it executes. Both belong to one
trace per run: its trace id and the run span's id are derived from the run id, so a step
attempt executed anywhere names the run span as its parent before that span exists. Only an
id generator that honours `forced_ids` (`flowdeck.telemetry.RunIdGenerator`, which `flowdeck
serve` and `flowdeck worker` install) gives the run span those ids; with another one the run
span starts a trace of its own and the step spans keep the derived one.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from flowdeck.engine.effects import RunEnd

try:
    from opentelemetry import trace
except ImportError:  # the `otel` extra is not installed: every call here does nothing
    trace = None  # type: ignore[assignment]

TRACER_NAME = "flowdeck"
# (trace id, span id) the next span must take: set only while the run span is created.
forced_ids: ContextVar[tuple[int, int] | None] = ContextVar("flowdeck_forced_ids", default=None)
_provider: Any = None


def use_tracer_provider(provider: Any) -> None:
    """Trace to `provider` instead of the global one (None: back to the global one)."""
    global _provider
    _provider = provider


def _tracer() -> Any:
    assert trace is not None
    if _provider is not None:
        return _provider.get_tracer(TRACER_NAME)
    return trace.get_tracer(TRACER_NAME)


def run_ids(run_id: str) -> tuple[int, int]:
    """The trace id and run span id of a run, derived from its id (never zero)."""
    digest = hashlib.blake2b(run_id.encode(), digest_size=24).digest()
    trace_id = int.from_bytes(digest[:16], "big") or 1
    span_id = int.from_bytes(digest[16:], "big") or 1
    return trace_id, span_id


def _run_context(run_id: str) -> Any:
    assert trace is not None
    trace_id, span_id = run_ids(run_id)
    parent = trace.SpanContext(
        trace_id, span_id, is_remote=True, trace_flags=trace.TraceFlags(trace.TraceFlags.SAMPLED)
    )
    return trace.set_span_in_context(trace.NonRecordingSpan(parent))


def _ns(moment: Any) -> int:
    return int(moment.timestamp() * 1_000_000_000)


def record_run(end: RunEnd) -> None:
    """Write the span of a run that ended."""
    if trace is None:
        return
    start = end.started_at or end.completed_at
    token = forced_ids.set(run_ids(end.run_id))
    try:
        span = _tracer().start_span(
            "flowdeck.run",
            context=trace.set_span_in_context(trace.INVALID_SPAN),
            kind=trace.SpanKind.INTERNAL,
            start_time=_ns(start),
            attributes={
                "flowdeck.run_id": end.run_id,
                "flowdeck.workflow_id": end.workflow_id,
                "flowdeck.run_status": end.status,
            },
        )
    finally:
        forced_ids.reset(token)
    if end.status == "failed":
        span.set_status(trace.Status(trace.StatusCode.ERROR, "run failed"))
    span.end(end_time=_ns(end.completed_at))


@contextmanager
def step_attempt(
    run_id: str, step_id: str, step_run_id: str, attempt: int, step_type: str
) -> Iterator[Any]:
    """A span around one attempt of a step, a child of its run's span; yields it (or None)."""
    if trace is None:
        yield None
        return
    with _tracer().start_as_current_span(
        "flowdeck.step",
        context=_run_context(run_id),
        attributes={
            "flowdeck.run_id": run_id,
            "flowdeck.step_id": step_id,
            "flowdeck.step_run_id": step_run_id,
            "flowdeck.attempt": attempt,
            "flowdeck.step_type": step_type,
        },
    ) as span:
        yield span


def mark_outcome(span: Any, label: str, error: str | None = None) -> None:
    """Say on a step attempt's span how it ended."""
    if span is None or trace is None:
        return
    span.set_attribute("flowdeck.outcome", label)
    if error is not None:
        span.set_status(trace.Status(trace.StatusCode.ERROR, error[:200]))
