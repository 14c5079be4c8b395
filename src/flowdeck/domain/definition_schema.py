"""The definition language as one typed schema: each step type's config, chosen by `type`.

The server validates definitions with `validation.validate_definition` (every error at once,
as sentences; plugin step types too). These models describe the same language for the JSON
Schema (editors, the OpenAPI document, the reference docs) and for workflows written as
Python code: `Workflow(...).to_definition()` is the JSON the server accepts.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from flowdeck.domain.definition import (
    MAX_TIMEOUT_SECONDS,
    STEP_ID_MAX_LENGTH,
    STEP_ID_PATTERN,
    InputSpec,
    OnFailure,
    OutputSpec,
    RetryPolicy,
    TriggerRule,
)
from flowdeck.domain.definition_meta import ScheduleSpec
from flowdeck.domain.records import TriggerType, Visibility
from flowdeck.domain.step_configs import (
    AgentTaskConfig,
    ApprovalConfig,
    ConditionConfig,
    HttpRequestConfig,
    LoopConfig,
    ScriptConfig,
    TransformConfig,
    WaitConfig,
    WebhookConfig,
    WorkflowConfig,
)

SCHEMA_ID = "https://flowdeck.dev/schema/workflow.json"


class Step(BaseModel):
    """What every step has, whatever its type: an id, dependencies, retries, a guard."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    id: str = Field(
        pattern=STEP_ID_PATTERN,
        max_length=STEP_ID_MAX_LENGTH,
        examples=["fetch"],
        description="Unique in the workflow: letters, digits, `_` and `-`",
    )
    name: str | None = Field(default=None, description="A display name")
    depends_on: list[str] = Field(default_factory=list, description="Ids of upstream steps")
    retry: RetryPolicy | None = Field(default=None, description="Retries with backoff")
    timeout_seconds: float | None = Field(
        default=None, gt=0, le=MAX_TIMEOUT_SECONDS, description="Fail the attempt after this"
    )
    trigger_rule: TriggerRule = Field(
        default="all_success",
        description="all_success: every dependency completed; none_failed: none failed and "
        "at least one completed (a join after a branch); all_done: always (cleanup)",
    )
    when: str | None = Field(default=None, description="An expression: skip the step if false")
    cost: float | None = Field(default=None, ge=0, description="Credits, for estimates")

    def model_post_init(self, context: Any, /) -> None:
        # `type` has a default in each subclass; it is part of the JSON all the same.
        self.__pydantic_fields_set__.add("type")


class HttpRequestStep(Step):
    """Call an HTTP API."""

    type: Literal["http_request"] = "http_request"
    config: HttpRequestConfig


class ScriptStep(Step):
    """Run Python or bash code in a sandbox."""

    type: Literal["script"] = "script"
    config: ScriptConfig


class AgentTaskStep(Step):
    """Ask an agent (an OpenAI-compatible model) to reach a goal."""

    type: Literal["agent_task"] = "agent_task"
    config: AgentTaskConfig


class ConditionStep(Step):
    """Evaluate an expression; the untaken branch is skipped."""

    type: Literal["condition"] = "condition"
    config: ConditionConfig


class LoopStep(Step):
    """Run a body step once per item."""

    type: Literal["loop"] = "loop"
    config: LoopConfig


class WaitStep(Step):
    """Wait durably for some seconds or until a time."""

    type: Literal["wait"] = "wait"
    config: WaitConfig


class WebhookStep(Step):
    """Send an outbound, optionally signed, request."""

    type: Literal["webhook"] = "webhook"
    config: WebhookConfig


class ApprovalStep(Step):
    """Wait for a person to approve or reject."""

    type: Literal["approval"] = "approval"
    config: ApprovalConfig = Field(default_factory=ApprovalConfig)


class TransformStep(Step):
    """Evaluate a value (any JSON with templates)."""

    type: Literal["transform"] = "transform"
    config: TransformConfig


class WorkflowStep(Step):
    """Run another workflow as a linked child run."""

    type: Literal["workflow"] = "workflow"
    config: WorkflowConfig


STEP_MODELS: dict[str, type[Step]] = {
    "http_request": HttpRequestStep,
    "script": ScriptStep,
    "agent_task": AgentTaskStep,
    "condition": ConditionStep,
    "loop": LoopStep,
    "wait": WaitStep,
    "webhook": WebhookStep,
    "approval": ApprovalStep,
    "transform": TransformStep,
    "workflow": WorkflowStep,
}

AnyStep = Annotated[
    HttpRequestStep
    | ScriptStep
    | AgentTaskStep
    | ConditionStep
    | LoopStep
    | WaitStep
    | WebhookStep
    | ApprovalStep
    | TransformStep
    | WorkflowStep,
    Field(discriminator="type"),
]


class WorkflowDefinitionSchema(BaseModel):
    """A workflow's versioned definition: inputs, steps (a DAG) and outputs."""

    model_config = ConfigDict(extra="forbid", title="WorkflowDefinition")

    name: str = Field(min_length=1, max_length=200)
    description: str | None = None
    version: str | None = Field(default=None, description="Informational")
    inputs: list[InputSpec] = Field(default_factory=list)
    outputs: list[OutputSpec] = Field(default_factory=list)
    steps: list[AnyStep]
    concurrency: int | None = Field(default=None, ge=1, description="Max concurrent runs")
    on_failure: OnFailure = Field(
        default="fail", description="pause: a failed step pauses the run for resume"
    )

    def to_definition(self) -> dict[str, Any]:
        """The JSON the server accepts (only what was set, keys as written in files)."""
        return self.model_dump(mode="json", by_alias=True, exclude_unset=True)


class Workflow(WorkflowDefinitionSchema):
    """A definition file: the definition and the workflow's metadata (slug, tags, schedules…)."""

    model_config = ConfigDict(extra="forbid", title="Workflow")

    slug: str | None = Field(
        default=None, description="The workflow's stable handle; derived from the name if absent"
    )
    tags: list[str] | None = None
    trigger_type: TriggerType | None = None
    visibility: Visibility | None = None
    schedules: list[ScheduleSpec] | None = Field(
        default=None,
        description="All of the workflow's schedules: missing ones are created, changed ones "
        "updated, unlisted ones deleted (matched by cron and timezone)",
    )


def workflow_json_schema() -> dict[str, Any]:
    """The JSON Schema of a definition file (what `flowdeck schema` prints)."""
    schema = Workflow.model_json_schema()
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        **schema,
        "title": "Flowdeck workflow",
    }
