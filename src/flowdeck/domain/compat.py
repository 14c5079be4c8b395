"""Records of what the seed-compatible APIs add to Flowdeck's own: workflow references
(integer id, UUID, owner, project, seed fields), projects and uploaded files."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class WorkflowRef:
    """A workflow's seed identities and the seed fields stored as given."""

    workflow_id: str
    number: int
    uuid: str
    owner_key_id: str | None = None
    run_count: int = 0
    extras: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Project:
    """A named group of workflows inside a workspace (seed 004)."""

    id: str
    workspace_id: str
    name: str
    created_at: datetime
    description: str | None = None


@dataclass(frozen=True)
class UploadedFile:
    """A file uploaded through seed 002's upload URL (without its bytes)."""

    id: str
    workspace_id: str
    created_at: datetime
    content_type: str | None = None
    size: int | None = None
    created_by: str | None = None
    uploaded_at: datetime | None = None
