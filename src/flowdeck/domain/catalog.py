"""Workflow templates as records: built-in ones ship with the package, others are saved per
workspace."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class Template:
    """A reusable workflow definition with a name, a category and a description."""

    id: str
    name: str
    category: str
    description: str | None
    definition: dict[str, Any]
    is_builtin: bool
    workspace_id: str | None = None
    trigger_type: str = "manual"
    requirements: tuple[str, ...] = field(default_factory=tuple)
    source_workflow_id: str | None = None
    created_by: str | None = None
    created_at: datetime | None = None
