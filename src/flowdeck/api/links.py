"""OpenAPI links (from a create to the routes taking the new id) and the stream's media type.

Links let generated clients and fuzzers follow a new object: `POST /api/workflows` answers an
`id` that `GET /api/workflows/{workflow_id}` takes.
"""

from __future__ import annotations

from typing import Any

# Operation ids taking a new workflow's id, and a new run's.
WORKFLOW_LINKS = ("get_workflow", "start_run", "list_versions", "list_workflow_runs")
RUN_LINKS = ("get_run", "stream_run", "cancel_run")

SSE = "text/event-stream"
SSE_SCHEMA: dict[str, Any] = {
    "type": "string",
    "description": "Server-Sent Events: `event:` the event type, `id:` its sequence number, "
    "`data:` the event as a JSON object",
}
STREAM_DESCRIPTION = (
    "The run's events: run_started, step_started, step_completed, step_failed, step_retrying, "
    "step_skipped, step_waiting, run_paused, run_resumed, run_completed, run_failed, "
    "run_cancelled. Replayed from the start (or after `Last-Event-ID`), then followed live; "
    "the stream ends after the run's final event."
)


def links(field: str, parameter: str, operations: tuple[str, ...]) -> dict[str, Any]:
    """Links passing the response's `field` as `parameter` to each of `operations`."""
    return {
        op: {
            "operationId": op,
            "parameters": {parameter: f"$response.body#/{field}"},
            "description": f"`{field}` of the response is the `{parameter}` of {op}",
        }
        for op in operations
    }
