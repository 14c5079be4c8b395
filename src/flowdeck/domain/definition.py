"""Workflow definition models (pydantic): what a user writes in JSON or YAML."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator

STEP_TYPES: tuple[str, ...] = (
    "http_request",
    "script",
    "agent_task",
    "condition",
    "loop",
    "wait",
    "webhook",
    "approval",
    "transform",
    "workflow",
)

InputType = Literal["string", "number", "integer", "boolean", "object", "array", "any"]
INPUT_TYPES: tuple[InputType, ...] = (
    "string",
    "number",
    "integer",
    "boolean",
    "object",
    "array",
    "any",
)
TriggerRule = Literal["all_success", "none_failed", "all_done"]
OnFailure = Literal["fail", "pause"]

STEP_ID_PATTERN = r"^[A-Za-z0-9_-]+$"
STEP_ID_MAX_LENGTH = 64
MAX_TIMEOUT_SECONDS = 7 * 24 * 3600.0


class _Strict(BaseModel):
    """Base for definition models: unknown keys are errors, so typos are reported."""

    model_config = ConfigDict(extra="forbid")


class InputSpec(_Strict):
    """One declared run input."""

    name: str = Field(min_length=1, max_length=200)
    type: InputType = "any"
    required: bool = False
    default: Any = None
    description: str | None = None


class OutputSpec(_Strict):
    """One run output: a value (usually a template) evaluated when the run completes."""

    name: str = Field(min_length=1, max_length=200)
    value: Any


class RetryPolicy(_Strict):
    """Retries with exponential backoff for one step."""

    max_attempts: int = Field(default=1, ge=1, le=100)
    backoff_seconds: float = Field(default=1.0, ge=0)
    backoff_factor: float = Field(default=2.0, ge=1)
    max_backoff_seconds: float = Field(default=300.0, gt=0)

    def delay_before(self, attempt: int) -> float:
        """Seconds to wait before `attempt` (2 for the first retry), capped by the maximum."""
        if attempt <= 1:
            return 0.0
        delay = self.backoff_seconds * self.backoff_factor ** (attempt - 2)
        return float(min(delay, self.max_backoff_seconds))


class StepDef(_Strict):
    """One step of a workflow: a typed unit of work and its dependencies."""

    id: str = Field(pattern=STEP_ID_PATTERN, max_length=STEP_ID_MAX_LENGTH)
    type: str = Field(min_length=1)
    name: str | None = None
    config: dict[str, Any] = Field(default_factory=dict)
    depends_on: list[str] = Field(default_factory=list)
    retry: RetryPolicy | None = None
    timeout_seconds: float | None = Field(default=None, gt=0, le=MAX_TIMEOUT_SECONDS)
    trigger_rule: TriggerRule = "all_success"
    when: str | None = None
    cost: float | None = Field(default=None, ge=0)


class WorkflowDefinition(_Strict):
    """A whole workflow: inputs, steps (a DAG) and outputs."""

    name: str = Field(min_length=1, max_length=200)
    description: str | None = None
    version: str | None = None
    inputs: list[InputSpec] = Field(default_factory=list)
    outputs: list[OutputSpec] = Field(default_factory=list)
    steps: list[StepDef]
    concurrency: int | None = Field(default=None, ge=1)
    on_failure: OnFailure = "fail"

    _index: dict[str, StepDef] | None = PrivateAttr(default=None)
    _index_source: list[StepDef] | None = PrivateAttr(default=None)

    @field_validator("version", mode="before")
    @classmethod
    def _version_as_text(cls, value: Any) -> Any:
        """Accept `version: 1` or `1.0` as well as `"1.0"` (the field is informational)."""
        if isinstance(value, int | float) and not isinstance(value, bool):
            return str(value)
        return value

    @property
    def steps_by_id(self) -> dict[str, StepDef]:
        """Steps keyed by id, in definition order."""
        index = self._index
        # Rebuilt when `steps` was replaced or grew; building is cheap, lookups are hot.
        if index is None or self._index_source is not self.steps or len(index) != len(self.steps):
            index = {step.id: step for step in self.steps}
            self._index, self._index_source = index, self.steps
        return index

    def step(self, step_id: str) -> StepDef:
        """The step with this id; KeyError when there is none."""
        try:
            return self.steps_by_id[step_id]
        except KeyError:
            raise KeyError(f"Workflow has no step '{step_id}'") from None

    def dependency_map(self) -> dict[str, list[str]]:
        """Step id → its `depends_on`, in definition order (the input of `graph` functions)."""
        return {step.id: list(step.depends_on) for step in self.steps}

    def input_spec(self, name: str) -> InputSpec | None:
        """The declared input with this name, if any."""
        return next((spec for spec in self.inputs if spec.name == name), None)
