"""What each built-in step type outputs (`steps.<id>.output`), as models for the reference.

The engine's handlers build these outputs as plain JSON; the models document their shape
(the reference pages under docs/steps/ are generated from them).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, RootModel


class _Output(BaseModel):
    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)


class HttpRequestOutput(_Output):
    """The response."""

    status_code: int
    """The response's HTTP status."""
    headers: dict[str, str]
    """The response's headers (secrets redacted)."""
    body: Any
    """The body: decoded JSON when it is JSON, else the text."""


class ScriptOutput(_Output):
    """What the script printed and how it ended."""

    result: Any
    """The last line of stdout parsed as JSON; null when it is not JSON."""
    stdout: str
    stderr: str
    exit_code: int
    """0 for success; any other code fails the step."""


class AgentUsage(_Output):
    """Tokens the model used."""

    input_tokens: int
    output_tokens: int
    estimated: bool = False
    """The provider reported no usage: counted as characters / 4."""


class AgentTaskOutput(_Output):
    """The agent's answer and what it cost."""

    text: Any
    """The reply's text, or the parsed object when the config has an `output_schema`."""
    usage: AgentUsage
    cost: float
    """Credits, from the agent's prices per 1,000 tokens."""
    model: str
    """The model that answered."""
    agent_id: str


class ConditionOutput(_Output):
    """Which branch was taken (the other one is skipped)."""

    result: bool
    """The expression's value."""
    branch: Literal["then", "else"]


class LoopOutput(RootModel[list[Any]]):
    """The body's outputs, one per item, in item order."""


class WaitOutput(_Output):
    """How long the step waited."""

    waited_seconds: float


class WebhookOutput(_Output):
    """The receiver's answer (a non-2xx answer fails the step)."""

    status_code: int
    body: Any
    """The body: decoded JSON when it is JSON, else the text."""


class ApprovalOutput(_Output):
    """The decision."""

    approved: bool
    by: str | None
    """Who decided (the key's name), or `timeout`."""
    comment: str | None
    decided_at: str
    """When (ISO 8601 UTC)."""
    timed_out: bool = False
    """Decided by `on_timeout` (present only then)."""


class TransformOutput(RootModel[Any]):
    """The evaluated `value`, whatever its type."""


class WorkflowOutput(RootModel[dict[str, Any] | None]):
    """The child run's outputs (its workflow's `outputs`), by name."""


STEP_OUTPUTS: dict[str, type[BaseModel]] = {
    "http_request": HttpRequestOutput,
    "script": ScriptOutput,
    "agent_task": AgentTaskOutput,
    "condition": ConditionOutput,
    "loop": LoopOutput,
    "wait": WaitOutput,
    "webhook": WebhookOutput,
    "approval": ApprovalOutput,
    "transform": TransformOutput,
    "workflow": WorkflowOutput,
}
