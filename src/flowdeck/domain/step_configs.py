"""Config schemas of the built-in step types (SPEC §3), one pydantic model per type."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, ClassVar, Literal, Self

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from flowdeck.domain.config_errors import error_message as error_message
from flowdeck.domain.config_errors import error_sentences as error_sentences
from flowdeck.domain.config_errors import format_location as format_location
from flowdeck.domain.config_errors import summarize_errors as summarize_errors
from flowdeck.domain.definition import MAX_TIMEOUT_SECONDS
from flowdeck.domain.templating import is_template

StepConfigRegistry = Mapping[str, type[BaseModel]]

HttpMethod = Literal["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]
Timeout = Annotated[float, Field(gt=0, le=MAX_TIMEOUT_SECONDS)]
HttpStatus = Annotated[int, Field(ge=100, le=599)]

# Step types that cannot be the body of a loop: nesting loops and per-item approvals are
# not supported by the engine.
LOOP_BODY_FORBIDDEN: tuple[str, ...] = ("loop", "approval")
CONTEXT_REGISTRY_KEY = "step_configs"
CONTEXT_SKIP_LOOP_BODY = "skip_loop_body"


@dataclass(frozen=True)
class StepFacts:
    """What the engine and validation need to know about a step type, declared by its config.

    - `expressions`: config fields holding a bare expression (`a == 1`, no braces);
    - `verbatim`: config fields that are not templates at all (a script's code);
    - `branches`: config fields naming steps of a branch the step chooses between;
    - `reads_all_ancestors`: the step sees every upstream output (a script gets the whole
      context on stdin), not only those its templates name;
    - `pure`: executing it only evaluates templates over the run's committed state (no side
      effect, no I/O), so the engine may execute it inside the transaction that made it ready
      (a loop's execution only computes its items; its iterations are steps of their own);
    - `loop_body`: the config field holding a loop's body step (`{type, config}`);
    - `child_workflow`: the config field naming a workflow the step runs as a child run.
    """

    expressions: tuple[str, ...] = ()
    verbatim: tuple[str, ...] = ()
    branches: tuple[str, ...] = ()
    reads_all_ancestors: bool = False
    pure: bool = False
    loop_body: str | None = None
    child_workflow: str | None = None


NO_FACTS = StepFacts()


class _Config(BaseModel):
    """Base for step configs: unknown keys are errors, so typos are reported."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)
    facts: ClassVar[StepFacts] = NO_FACTS


class HttpRequestConfig(_Config):
    """`http_request`: call an HTTP API."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, use_attribute_docstrings=True)

    method: HttpMethod = "GET"
    """The HTTP method."""
    url: str = Field(min_length=1)
    """The URL (a template: `https://api.example.com/{{ inputs.id }}`)."""
    headers: dict[str, str] = Field(default_factory=dict)
    """Request headers; values may be templates (`Bearer {{ secrets.TOKEN }}`)."""
    params: dict[str, Any] = Field(default_factory=dict)
    """Query parameters, added to the URL."""
    json_: Any = Field(default=None, alias="json")
    """A JSON body (any JSON with templates); exclusive with `body`."""
    body: str | None = None
    """A text body; exclusive with `json`."""
    timeout_seconds: Timeout | None = None
    """Give up on the request after this long (the step's timeout still applies)."""
    expect_status: list[HttpStatus] | None = None
    """Statuses that count as success; by default any 2xx (others fail the step)."""

    @field_validator("method", mode="before")
    @classmethod
    def _upper_method(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value

    @model_validator(mode="after")
    def _one_kind_of_body(self) -> Self:
        if self.json_ is not None and self.body is not None:
            raise ValueError("json and body are mutually exclusive; give only one")
        return self


class ScriptConfig(_Config):
    """`script`: run Python or bash code in a sandboxed subprocess."""

    facts = StepFacts(verbatim=("code",), reads_all_ancestors=True)

    language: Literal["python", "bash"]
    """`python` or `bash`."""
    code: str = Field(min_length=1)
    """The code, run as is (not a template); the run context arrives as JSON on stdin."""
    env: dict[str, str] = Field(default_factory=dict)
    """Extra environment variables (templates); the rest of the environment is scrubbed."""
    timeout_seconds: Timeout | None = None
    """Kill the script's whole process tree after this long."""

    @field_validator("code")
    @classmethod
    def _code_not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be blank")
        return value


class AgentTaskConfig(_Config):
    """`agent_task`: ask an agent (an OpenAI-compatible model) to reach a goal."""

    agent_id: str = Field(min_length=1)
    """The agent (its id or name) whose model, instructions and prices are used."""
    goal: str = Field(min_length=1)
    """What to do (a template)."""
    context: Any = None
    """Anything the agent should see with the goal (any JSON with templates)."""
    output_schema: dict[str, Any] | None = None
    """A JSON Schema the reply must match; the reply is then parsed into `text`."""

    @field_validator("output_schema")
    @classmethod
    def _valid_schema(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        problem = None if value is None else json_schema_problem(value)
        if problem is not None:
            raise ValueError(f"not a valid JSON Schema: {problem}")
        return value


class ConditionConfig(_Config):
    """`condition`: evaluate an expression and skip the untaken branch."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, use_attribute_docstrings=True)
    facts = StepFacts(expressions=("expression",), branches=("then", "else"), pure=True)

    expression: str = Field(min_length=1)
    """An expression (no braces): `steps.fetch.output.status_code == 200`."""
    then: list[str] = Field(default_factory=list)
    """Steps to run when the expression is true (the `else` steps are skipped)."""
    else_: list[str] = Field(default_factory=list, alias="else")
    """Steps to run when it is false (the `then` steps are skipped)."""


class LoopBody(_Config):
    """The step a loop runs once per item: a type and its config."""

    type: str = Field(min_length=1)
    """The body's step type (not `loop` or `approval`)."""
    config: dict[str, Any] = Field(default_factory=dict)
    """The body's config, as that step type takes it."""


class LoopConfig(_Config):
    """`loop`: run a body step once per item, in parallel up to `concurrency`."""

    facts = StepFacts(expressions=("items",), loop_body="step", pure=True)

    items: str | list[Any]
    """An expression giving a list (`steps.extract.output.rows`), or a literal list."""
    step: LoopBody
    """The body, run once per item with `loop.item` and `loop.index` in its templates."""
    concurrency: int = Field(default=1, ge=1, le=1000)
    """How many iterations may run at the same time."""
    fail_fast: bool = True
    """Stop starting iterations after the first one fails."""

    @field_validator("items", mode="before")
    @classmethod
    def _items_shape(cls, value: Any) -> Any:
        if isinstance(value, str):
            if not value.strip():
                raise ValueError("must not be blank")
            return value
        if isinstance(value, list | tuple):
            return list(value)
        raise ValueError("must be an expression (a string) or a list")

    @model_validator(mode="after")
    def _valid_body(self, info: ValidationInfo) -> Self:
        context = info.context if isinstance(info.context, Mapping) else {}
        if context.get(CONTEXT_SKIP_LOOP_BODY):
            return self  # The caller checks the body itself, to report precise locations.
        registry: StepConfigRegistry = context.get(CONTEXT_REGISTRY_KEY) or BUILTIN_STEP_CONFIGS
        problem = loop_body_type_problem(self.step.type, registry)
        if problem is not None:
            raise ValueError(f"step.type: {problem}")
        try:
            registry[self.step.type].model_validate(self.step.config, context=info.context)
        except ValidationError as exc:
            raise ValueError(f"step.config: {summarize_errors(exc)}") from None
        return self


def _non_negative(value: float) -> float:
    if not math.isfinite(value) or value < 0:
        raise ValueError("must be a finite number, at least 0")
    return value


class WaitConfig(_Config):
    """`wait`: pause durably for a number of seconds or until a timestamp."""

    seconds: float | str | None = None
    """How long to wait (a number, or a template giving one)."""
    until: str | None = None
    """An ISO 8601 time to wait for (or a template); give `seconds` or `until`."""

    @field_validator("seconds", mode="before")
    @classmethod
    def _seconds_value(cls, value: Any) -> Any:
        if value is None:
            return None
        if isinstance(value, bool):
            raise ValueError("must be a number or a template")
        if isinstance(value, int | float):
            return _non_negative(float(value))
        if isinstance(value, str) and is_template(value):
            return value
        try:
            number = float(value) if isinstance(value, str) else None
        except ValueError:
            number = None
        if number is None:
            raise ValueError("must be a number or a template")
        return _non_negative(number)

    @field_validator("until")
    @classmethod
    def _until_value(cls, value: str | None) -> str | None:
        if value is None or is_template(value):
            return value
        try:
            datetime.fromisoformat(value)
        except ValueError:
            raise ValueError(
                "must be an ISO 8601 timestamp (e.g. 2030-01-01T09:00:00Z) or a template"
            ) from None
        return value

    @model_validator(mode="after")
    def _exactly_one(self) -> Self:
        if (self.seconds is None) == (self.until is None):
            raise ValueError("give exactly one of seconds or until")
        return self


class WebhookConfig(_Config):
    """`webhook`: send an outbound request, optionally HMAC-signed; non-2xx fails."""

    url: str = Field(min_length=1)
    """Where to send the request (a template)."""
    method: HttpMethod = "POST"
    """The HTTP method."""
    payload: Any = None
    """The JSON body (any JSON with templates)."""
    headers: dict[str, str] = Field(default_factory=dict)
    """Request headers; values may be templates."""
    secret: str | None = None
    """Signs the body: `X-Flowdeck-Signature: sha256=<HMAC-SHA256 hex>`."""

    @field_validator("method", mode="before")
    @classmethod
    def _upper_method(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value


class ApprovalConfig(_Config):
    """`approval`: wait for a person to approve or reject."""

    message: str = "Approval required"
    """What the approver is asked (a template)."""
    timeout_seconds: Timeout | None = None
    """Decide automatically after this long (see `on_timeout`); none: wait forever."""
    on_timeout: Literal["reject", "approve"] = "reject"
    """What a timeout decides."""


class TransformConfig(_Config):
    """`transform`: evaluate a value (any JSON with templates)."""

    facts = StepFacts(pure=True)

    value: Any
    """Any JSON; templates in it are evaluated (`{{ steps.a.output | length }}`)."""


class WorkflowConfig(_Config):
    """`workflow`: run another workflow as a linked child run."""

    facts = StepFacts(child_workflow="workflow_id")

    workflow_id: str = Field(min_length=1)
    """The child workflow (id or slug) in the same workspace."""
    input_data: dict[str, Any] = Field(default_factory=dict)
    """The child run's inputs (templates)."""


BUILTIN_STEP_CONFIGS: dict[str, type[BaseModel]] = {
    "http_request": HttpRequestConfig,
    "script": ScriptConfig,
    "agent_task": AgentTaskConfig,
    "condition": ConditionConfig,
    "loop": LoopConfig,
    "wait": WaitConfig,
    "webhook": WebhookConfig,
    "approval": ApprovalConfig,
    "transform": TransformConfig,
    "workflow": WorkflowConfig,
}


def facts_of(model: type[BaseModel] | None) -> StepFacts:
    """The step facts a config model declares (a plugin's model may declare none)."""
    facts = getattr(model, "facts", None)
    return facts if isinstance(facts, StepFacts) else NO_FACTS


def step_facts(step_type: str) -> StepFacts:
    """The facts of a built-in step type (none for a plugin's)."""
    return facts_of(BUILTIN_STEP_CONFIGS.get(step_type))


def json_schema_problem(schema: Mapping[str, Any]) -> str | None:
    """Why `schema` is not a valid JSON Schema (its own meta-schema's verdict), or None."""
    import jsonschema  # only definitions with an output_schema pay for the import

    try:
        jsonschema.validators.validator_for(schema).check_schema(schema)
    except jsonschema.SchemaError as exc:
        where = "/".join(str(p) for p in exc.path)
        return f"{where}: {exc.message}" if where else exc.message
    return None


def loop_body_type_problem(step_type: str, registry: StepConfigRegistry) -> str | None:
    """Why `step_type` cannot be a loop body, or None when it can."""
    if step_type in LOOP_BODY_FORBIDDEN:
        return f"a loop body cannot be of type '{step_type}'"
    if step_type not in registry:
        known = ", ".join(t for t in registry if t not in LOOP_BODY_FORBIDDEN)
        return f"unknown type '{step_type}'; known types: {known}"
    return None
