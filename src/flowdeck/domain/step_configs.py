"""Config schemas of the built-in step types (SPEC §3), one pydantic model per type."""

from __future__ import annotations

import difflib
import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, ClassVar, Literal, Self, get_args

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

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

    model_config = ConfigDict(extra="forbid")
    facts: ClassVar[StepFacts] = NO_FACTS


class HttpRequestConfig(_Config):
    """`http_request`: call an HTTP API."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    method: HttpMethod = "GET"
    url: str = Field(min_length=1)
    headers: dict[str, str] = Field(default_factory=dict)
    params: dict[str, Any] = Field(default_factory=dict)
    json_: Any = Field(default=None, alias="json")
    body: str | None = None
    timeout_seconds: Timeout | None = None
    expect_status: list[HttpStatus] | None = None

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
    code: str = Field(min_length=1)
    env: dict[str, str] = Field(default_factory=dict)
    timeout_seconds: Timeout | None = None

    @field_validator("code")
    @classmethod
    def _code_not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be blank")
        return value


class AgentTaskConfig(_Config):
    """`agent_task`: ask an agent (an OpenAI-compatible model) to reach a goal."""

    agent_id: str = Field(min_length=1)
    goal: str = Field(min_length=1)
    context: Any = None
    output_schema: dict[str, Any] | None = None

    @field_validator("output_schema")
    @classmethod
    def _valid_schema(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        problem = None if value is None else json_schema_problem(value)
        if problem is not None:
            raise ValueError(f"not a valid JSON Schema: {problem}")
        return value


class ConditionConfig(_Config):
    """`condition`: evaluate an expression and skip the untaken branch."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    facts = StepFacts(expressions=("expression",), branches=("then", "else"), pure=True)

    expression: str = Field(min_length=1)
    then: list[str] = Field(default_factory=list)
    else_: list[str] = Field(default_factory=list, alias="else")


class LoopBody(_Config):
    """The step a loop runs once per item: a type and its config."""

    type: str = Field(min_length=1)
    config: dict[str, Any] = Field(default_factory=dict)


class LoopConfig(_Config):
    """`loop`: run a body step once per item, in parallel up to `concurrency`."""

    facts = StepFacts(expressions=("items",), loop_body="step", pure=True)

    items: str | list[Any]
    step: LoopBody
    concurrency: int = Field(default=1, ge=1, le=1000)
    fail_fast: bool = True

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
    until: str | None = None

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
    method: HttpMethod = "POST"
    payload: Any = None
    headers: dict[str, str] = Field(default_factory=dict)
    secret: str | None = None

    @field_validator("method", mode="before")
    @classmethod
    def _upper_method(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value


class ApprovalConfig(_Config):
    """`approval`: wait for a person to approve or reject."""

    message: str = "Approval required"
    timeout_seconds: Timeout | None = None
    on_timeout: Literal["reject", "approve"] = "reject"


class TransformConfig(_Config):
    """`transform`: evaluate a value (any JSON with templates)."""

    facts = StepFacts(pure=True)

    value: Any


class WorkflowConfig(_Config):
    """`workflow`: run another workflow as a linked child run."""

    facts = StepFacts(child_workflow="workflow_id")

    workflow_id: str = Field(min_length=1)
    input_data: dict[str, Any] = Field(default_factory=dict)


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


def format_location(loc: tuple[int | str, ...]) -> str:
    """Render a pydantic error location as `a.b[2].c`."""
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text


def error_message(error: Mapping[str, Any]) -> str:
    """A pydantic error's message without pydantic's 'Value error, ' prefix."""
    if error.get("type") in ("value_error", "assertion_error"):
        ctx = error.get("ctx") or {}
        if "error" in ctx:
            return str(ctx["error"])
    return str(error.get("msg", "invalid value"))


def summarize_errors(exc: ValidationError) -> str:
    """All errors of `exc` on one line: `loc: message; loc: message`."""
    parts = []
    for error in exc.errors():
        where = format_location(tuple(error["loc"]))
        message = error_message(error)
        parts.append(f"{where}: {message}" if where else message)
    return "; ".join(parts)


def _model_in(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in get_args(annotation):
        found = _model_in(arg)
        if found is not None:
            return found
    return None


def _fields_at(model: type[BaseModel] | None, loc: tuple[int | str, ...]) -> list[str]:
    """The field names (aliases when set) of the model found at `loc` inside `model`."""
    for part in loc:
        if model is None:
            return []
        if isinstance(part, str):
            fields = model.model_fields.items()
            info = next((f for name, f in fields if part in (name, f.alias)), None)
            model = _model_in(info.annotation) if info is not None else None
    return [f.alias or name for name, f in model.model_fields.items()] if model else []


def error_sentences(
    exc: ValidationError, model: type[BaseModel], *, label: str = "", base: str = ""
) -> list[str]:
    """Pydantic errors as `<label>: <base>.<location>: <message>` sentences, with typo hints."""
    out = []
    for error in exc.errors():
        loc = tuple(error["loc"])
        message = error_message(error)
        if error["type"] == "extra_forbidden" and loc and isinstance(loc[-1], str):
            close = difflib.get_close_matches(loc[-1], _fields_at(model, loc[:-1]), n=1)
            message = "unknown field" + (f" (did you mean '{close[0]}'?)" if close else "")
        elif error["type"] == "string_pattern_mismatch" and loc == ("id",):
            message = "may only contain letters, digits, '_' and '-'"
        elif loc and (error["type"] == "invalid_key" or loc[-1] == "[key]"):
            # YAML allows keys such as `1:`; JSON data does not.
            loc = loc[:-1] if loc[-1] == "[key]" else loc
            loc, message = loc[:-1], f"key {loc[-1]!r} must be a string"
        where = format_location(loc)
        if base:
            where = (
                f"{base}{where}" if where.startswith("[") else ".".join(filter(None, (base, where)))
            )
        parts = [p for p in (label, where) if p]
        out.append(": ".join([*parts, message]))
    return out
