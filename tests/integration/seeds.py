"""Seed 001's example definitions, shared by tests."""

from __future__ import annotations

from typing import Any


def fetch_and_notify() -> dict[str, Any]:
    """Seed 001's create example."""
    return {
        "name": "Fetch and notify",
        "steps": [
            {
                "id": "fetch",
                "type": "http_request",
                "config": {"method": "GET", "url": "https://api.example.com/data"},
            },
            {
                "id": "notify",
                "type": "agent_task",
                "config": {
                    "agent_id": "agent_123",
                    "goal": "Summarize the fetched data and post to Slack",
                },
                "depends_on": ["fetch"],
            },
        ],
    }


def missing_dependency() -> dict[str, Any]:
    """A definition whose step depends on a step that doesn't exist."""
    return {
        "name": "Broken dependency",
        "steps": [
            {
                "id": "notify",
                "type": "transform",
                "config": {"value": 1},
                "depends_on": ["fetch"],
            }
        ],
    }


def cycle() -> dict[str, Any]:
    """A definition with a two-step cycle."""
    return {
        "name": "Cycle",
        "steps": [
            {"id": "step_a", "type": "transform", "config": {"value": 1}, "depends_on": ["step_b"]},
            {"id": "step_b", "type": "transform", "config": {"value": 2}, "depends_on": ["step_a"]},
        ],
    }
