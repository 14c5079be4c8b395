"""The contract between the engine and a step type's handler."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol

import httpx
from pydantic import BaseModel

from flowdeck.domain.clock import Clock
from flowdeck.domain.templating import TemplateError
from flowdeck.engine.agents import AgentLookup
from flowdeck.engine.rendering import TemplateRenderer


class StepFailed(Exception):
    """The step failed; `retryable` says whether another attempt could succeed."""

    def __init__(self, message: str, *, retryable: bool = True, output: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.retryable = retryable
        self.output = output


@dataclass(frozen=True)
class Completed:
    """The step finished with `output` (and what it cost, in credits)."""

    output: Any
    cost: float = 0.0


@dataclass(frozen=True)
class Suspended:
    """Park the step in `waiting` holding no worker; `state` comes back on resume.

    `wake_at` is when the handler runs again; None means only an outside event
    (an approval decision, a child run ending) wakes it.
    """

    state: dict[str, Any]
    wake_at: datetime | None
    reason: str = "wait"
    # Extra fields for the `step_waiting` event (an approval's message and deadline).
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class SpawnChildren:
    """Run `body` once per item as child step runs `<id>[i]` (the loop step)."""

    items: list[Any]
    body: dict[str, Any]
    concurrency: int = 1
    fail_fast: bool = True


@dataclass(frozen=True)
class StartChildRun:
    """Start a run of another workflow and wait for it (the workflow step)."""

    workflow_id: str
    input_data: dict[str, Any]


StepOutcome = Completed | Suspended | SpawnChildren | StartChildRun


@dataclass
class StepEnvironment:
    """Process-wide things handlers may use."""

    http: httpx.AsyncClient
    clock: Clock
    allow_scripts: bool = True
    script_cpu_seconds: int = 60
    script_memory_mb: int = 512
    # The script sandbox (engine/sandbox): which one, its network, and its caps.
    script_sandbox: Literal["auto", "bwrap", "landlock", "none"] = "auto"
    script_network: bool = False
    script_max_processes: int = 128
    script_file_size_mb: int = 64
    script_tmp_size_mb: int = 64
    script_bwrap_path: str | None = None
    script_python: str | None = None
    script_uid: int = 65534
    llm_base_url: str | None = None
    llm_api_key: str | None = None
    agents: AgentLookup | None = None
    templates: TemplateRenderer = field(default_factory=TemplateRenderer)
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class StepContext:
    """Everything one attempt of one step gets to see."""

    run_id: str
    workflow_id: str
    workspace_id: str
    step_id: str
    step_type: str
    attempt: int
    config: Mapping[str, Any]
    template_context: Mapping[str, Any]
    env: StepEnvironment
    state: Mapping[str, Any] | None = None
    timeout_seconds: float | None = None
    redact: Callable[[Any], Any] = lambda value: value

    @property
    def idempotency_key(self) -> str:
        """`<run_id>:<step_id>`: the same for every attempt of this step in this run."""
        return f"{self.run_id}:{self.step_id}"

    async def render(self, value: Any) -> Any:
        """Render templates inside `value` under the template budget (off the event loop when
        they run long); a template error or an exceeded budget fails the step for good."""
        templates = self.env.templates
        try:
            return await templates.render(
                value, self.template_context, step_timeout=self.timeout_seconds
            )
        except TemplateError as exc:
            raise StepFailed(f"Template error: {exc}", retryable=False) from exc

    async def evaluate(self, expression: str) -> Any:
        """Evaluate an expression under the template budget; an error fails the step for good."""
        templates = self.env.templates
        try:
            return await templates.evaluate(
                expression, self.template_context, step_timeout=self.timeout_seconds
            )
        except TemplateError as exc:
            raise StepFailed(f"Expression error: {exc}", retryable=False) from exc


class StepHandler(Protocol):
    """A step type: its name, its config schema, and how to execute one attempt."""

    @property
    def type_name(self) -> str:
        """The `type` a definition uses for this step."""
        ...

    @property
    def config_model(self) -> type[BaseModel]:
        """The pydantic model its `config` must match."""
        ...

    async def execute(self, ctx: StepContext) -> StepOutcome:
        """Run one attempt; raise StepFailed to fail it."""
        ...
