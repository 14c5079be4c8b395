"""OpenTelemetry tracing for `flowdeck serve` and `flowdeck worker` (the `flowdeck[otel]` extra).

Spans are exported over OTLP (HTTP/protobuf) when `OTEL_EXPORTER_OTLP_ENDPOINT` (or
`OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) is set; the exporter reads the other standard `OTEL_*`
variables itself (headers, timeout, `OTEL_SERVICE_NAME`). Without the extra, or without an
endpoint, nothing is set up and the engine's spans cost nothing (engine/tracing.py).
"""

from __future__ import annotations

import logging
import os
from typing import Any

from flowdeck.engine.tracing import forced_ids

log = logging.getLogger("flowdeck.telemetry")
_ENDPOINTS = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")


def tracer_provider(processor: Any, service_name: str = "flowdeck") -> Any:
    """A TracerProvider whose run spans take the ids their step spans expect, sending every
    span to `processor` (a SimpleSpanProcessor over an InMemorySpanExporter, in tests)."""
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.id_generator import RandomIdGenerator

    class RunIdGenerator(RandomIdGenerator):
        """Random ids, except for a run's span: the ids derived from its run id."""

        def generate_span_id(self) -> int:
            forced = forced_ids.get()
            return forced[1] if forced is not None else super().generate_span_id()

        def generate_trace_id(self) -> int:
            forced = forced_ids.get()
            return forced[0] if forced is not None else super().generate_trace_id()

    attributes = {} if os.environ.get("OTEL_SERVICE_NAME") else {SERVICE_NAME: service_name}
    provider = TracerProvider(resource=Resource.create(attributes), id_generator=RunIdGenerator())
    provider.add_span_processor(processor)
    return provider


def configure_tracing(service_name: str) -> bool:
    """Export spans over OTLP when an endpoint is configured; whether tracing is on."""
    if not any(os.environ.get(name) for name in _ENDPOINTS):
        return False
    try:
        from opentelemetry import trace
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
    except ImportError:
        log.warning(
            "OTEL_EXPORTER_OTLP_ENDPOINT is set but tracing needs the otel extra: "
            "pip install 'flowdeck[otel]'"
        )
        return False
    provider = tracer_provider(BatchSpanProcessor(OTLPSpanExporter()), service_name)
    trace.set_tracer_provider(provider)  # flushed and shut down at exit by the SDK
    log.info("tracing to %s", os.environ.get(_ENDPOINTS[1]) or os.environ.get(_ENDPOINTS[0]))
    return True
