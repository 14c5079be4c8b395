"""Templates, as the API answers them."""

from __future__ import annotations

from pydantic import Field

from flowdeck.models.base import ApiModel, Paged, Timestamp
from flowdeck.models.enums import TriggerType
from flowdeck.models.workflows import DefinitionOut


class TemplateSummary(ApiModel):
    """A template as it appears in lists."""

    id: str = Field(examples=["tpl_fetch_and_notify"])
    name: str
    category: str
    description: str | None
    is_builtin: bool
    trigger_type: TriggerType
    requirements: list[str] = Field(description="What the template needs (secrets, agents…)")
    step_count: int
    source_workflow_id: str | None
    created_by: str | None
    created_at: Timestamp | None


class TemplateDetail(TemplateSummary):
    """A template with its definition."""

    definition: DefinitionOut


class TemplateList(Paged):
    """Built-in templates, then the workspace's own."""

    templates: list[TemplateSummary]
