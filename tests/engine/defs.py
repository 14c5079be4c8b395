"""Definition builders for engine tests (the probe step is the harness's `probe`)."""

from __future__ import annotations

from typing import Any


def transform(step_id: str, value: Any, *depends_on: str, **extra: Any) -> dict[str, Any]:
    """A transform step."""
    return {
        "id": step_id,
        "type": "transform",
        "config": {"value": value},
        "depends_on": list(depends_on),
        **extra,
    }


def failing(step_id: str, *depends_on: str, **extra: Any) -> dict[str, Any]:
    """A step that always fails for good (a template error at run time)."""
    return transform(step_id, "{{ [1][5] }}", *depends_on, **extra)


def wait(step_id: str, seconds: float, *depends_on: str, **extra: Any) -> dict[str, Any]:
    """A wait step."""
    return {
        "id": step_id,
        "type": "wait",
        "config": {"seconds": seconds},
        "depends_on": list(depends_on),
        **extra,
    }


def http_get(step_id: str, url: str, *depends_on: str, **extra: Any) -> dict[str, Any]:
    """A GET http_request step that expects a 200."""
    return {
        "id": step_id,
        "type": "http_request",
        "config": {"method": "GET", "url": url, "expect_status": [200]},
        "depends_on": list(depends_on),
        **extra,
    }


def calls(step_id: str, workflow_id: str, *depends_on: str, **config: Any) -> dict[str, Any]:
    """A workflow step running `workflow_id` as a child run."""
    return {
        "id": step_id,
        "type": "workflow",
        "config": {"workflow_id": workflow_id, **config},
        "depends_on": list(depends_on),
    }


def loop(
    step_id: str, items: Any, body: dict[str, Any], *depends_on: str, **config: Any
) -> dict[str, Any]:
    """A loop step running `body` once per item."""
    return {
        "id": step_id,
        "type": "loop",
        "config": {"items": items, "step": body, **config},
        "depends_on": list(depends_on),
    }
