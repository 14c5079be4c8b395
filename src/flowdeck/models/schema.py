"""The JSON Schema document of the definition language, as the API serves it."""

from __future__ import annotations

from typing import Any

from pydantic import ConfigDict, Field

from flowdeck.models.base import ApiModel


class JsonSchemaDocument(ApiModel):
    """A JSON Schema (draft 2020-12): the top-level keywords, and the rest as they are."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)

    schema_: str = Field(alias="$schema")
    id_: str = Field(alias="$id")
    title: str
    type: str
    properties: dict[str, Any]
    required: list[str]
    defs: dict[str, Any] = Field(alias="$defs")
