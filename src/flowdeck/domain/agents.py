"""Agents (an OpenAI-compatible model with instructions and prices) and pending approvals."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class Agent:
    """An agent as stored: its provider key only as ciphertext."""

    id: str
    workspace_id: str
    name: str
    model: str
    instructions: str
    created_at: datetime
    updated_at: datetime
    base_url: str | None = None
    temperature: float | None = None
    max_tokens: int | None = None
    price_per_1k_input: float = 0.0
    price_per_1k_output: float = 0.0
    # SecretBox ciphertext; only the agent lookup for the engine decrypts it.
    api_key: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class PendingApproval:
    """A current `approval` step run that waits for a decision, with its run's workflow."""

    run_id: str
    step_id: str
    step_run_id: str
    workflow_id: str
    workflow_name: str
    workflow_slug: str
    run_status: str
    state: dict[str, Any]
    started_at: datetime | None
    wake_at: datetime | None
    run_created_by: str | None = None
