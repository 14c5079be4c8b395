"""The base of every response model, and the small types they share."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, GetJsonSchemaHandler, WithJsonSchema
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema

# Timestamps leave the services already formatted (ISO 8601 UTC, `Z`, milliseconds); the
# models keep that text as it is and declare it a date-time.
Timestamp = Annotated[str, WithJsonSchema({"type": "string", "format": "date-time"})]
# Any JSON value (a step's output, a run's inputs): typed as what it is, not as an object.
JsonValue = Annotated[Any, WithJsonSchema({"description": "Any JSON value"})]
JsonObject = dict[str, Any]


class SchemaOf:
    """Annotated metadata: document a value with `model`'s schema, without validating it
    (the value passes as it is; the model only describes it). `or_text`: YAML/JSON text too."""

    def __init__(self, model: type[BaseModel], *, or_text: bool = False) -> None:
        self.model = model
        self.or_text = or_text

    def __get_pydantic_json_schema__(
        self, _core_schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        schema = handler(self.model.__pydantic_core_schema__)
        if not self.or_text:
            return schema
        text = {"type": "string", "description": "The same, as YAML or JSON text"}
        return {"anyOf": [schema, text]}


class ApiModel(BaseModel):
    """A response body: every field declared (an undeclared one is a bug, not a silent drop)."""

    model_config = ConfigDict(extra="forbid")


class Paged(ApiModel):
    """The paging fields of every list (`limit`/`offset`, or `cursor` → `next_cursor`)."""

    total: int = Field(description="How many items match, over all pages")
    next_cursor: str | None = Field(
        default=None, description="Pass as `cursor` for the next page; null on the last one"
    )


class Problem(ApiModel):
    """An RFC 9457 problem: every error the API answers has this shape."""

    model_config = ConfigDict(extra="allow")

    type: str = Field(examples=["urn:flowdeck:problem:invalid"])
    title: str = Field(examples=["Validation failed"])
    status: int = Field(ge=400, le=599)
    detail: str
    errors: list[str] | None = Field(
        default=None, description="Every problem found, as sentences (validation errors)"
    )
