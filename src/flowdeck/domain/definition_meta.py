"""What a definition file may say about its workflow besides the definition itself.

`slug`, `tags`, `trigger_type`, `visibility` and `schedules` sit at the top of a file next to
`name` and `steps`, so one file describes a workflow completely. They are the workflow's
metadata, not part of its versioned definition: validation takes them off before the
definition is checked, and the server applies them to the workflow (and its schedules).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from flowdeck.domain.records import TriggerType, Visibility
from flowdeck.domain.slugs import slug_problem
from flowdeck.domain.step_configs import error_sentences

METADATA_FIELDS: tuple[str, ...] = ("slug", "tags", "trigger_type", "visibility", "schedules")


class ScheduleSpec(BaseModel):
    """A schedule written in a definition file; matched to the stored ones by cron and zone."""

    model_config = ConfigDict(extra="forbid")

    cron: str = Field(
        min_length=1,
        max_length=200,
        description="5 fields (minute hour day-of-month month day-of-week), or 6 with seconds",
        examples=["0 9 * * 1-5"],
    )
    timezone: str = Field(default="UTC", max_length=64, examples=["Europe/Paris"])
    input_data: dict[str, Any] = Field(default_factory=dict)
    enabled: bool = True


class DefinitionMetadata(BaseModel):
    """The metadata fields of a definition file (each optional: absent keeps the current)."""

    model_config = ConfigDict(extra="forbid")

    slug: str | None = Field(
        default=None, description="The workflow's stable handle; derived from the name if absent"
    )
    tags: list[str] | None = None
    trigger_type: TriggerType | None = None
    visibility: Visibility | None = None
    schedules: list[ScheduleSpec] | None = Field(
        default=None,
        description="The workflow's schedules, all of them: missing ones are created, "
        "changed ones updated, unlisted ones deleted",
    )

    @field_validator("slug")
    @classmethod
    def _valid_slug(cls, value: str | None) -> str | None:
        problem = None if value is None else slug_problem(value)
        if problem is not None:
            raise ValueError(problem)
        return value


def split_metadata(
    raw: Mapping[str, Any],
) -> tuple[dict[str, Any], DefinitionMetadata | None, list[str]]:
    """(the definition without metadata, the metadata or None when invalid, its errors)."""
    definition = {k: v for k, v in raw.items() if k not in METADATA_FIELDS}
    found = {k: raw[k] for k in METADATA_FIELDS if k in raw}
    try:
        return definition, DefinitionMetadata.model_validate(found), []
    except ValidationError as exc:
        return definition, None, error_sentences(exc, DefinitionMetadata)
