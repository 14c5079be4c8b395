"""GET /api/schema/workflow.json: the JSON Schema of a definition file (no key needed)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from flowdeck.api.retry import RetryingRoute
from flowdeck.definition import workflow_json_schema
from flowdeck.models.schema import JsonSchemaDocument

router = APIRouter(route_class=RetryingRoute, prefix="/api/schema", tags=["schema"])


@router.get("/workflow.json", response_model=JsonSchemaDocument)
async def get_workflow_schema() -> dict[str, Any]:
    """The definition language: each step type's config, chosen by `type`, and the file's
    metadata (slug, tags, trigger_type, visibility, schedules). Point an editor at it."""
    return workflow_json_schema()
