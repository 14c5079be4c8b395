"""Dry-run cost estimates: the steps' declared `cost` plus each agent_task's model cost."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

from flowdeck.domain.agents import Agent
from flowdeck.domain.definition import StepDef
from flowdeck.domain.templating import is_template
from flowdeck.engine.agents import AgentProfile

CHARS_PER_TOKEN = 4
DEFAULT_OUTPUT_TOKENS = 512
BASIS = (
    "agent_task steps: input tokens ≈ prompt characters / 4 (the agent's instructions plus the "
    "step's goal, context and output_schema as written, templates not yet rendered), output "
    f"tokens = the agent's max_tokens (or {DEFAULT_OUTPUT_TOKENS} when unset), priced at the "
    "agent's price_per_1k_input and price_per_1k_output; plus every step's declared `cost`"
)


@dataclass(frozen=True)
class AgentEstimate:
    """One agent_task step's estimated model cost, or why there is none."""

    cost: float = 0.0
    input_tokens: int = 0
    output_tokens: int = 0
    agent_id: str | None = None
    note: str | None = None

    def view(self) -> dict[str, Any]:
        """The estimate as the dry run reports it."""
        if self.note is not None:
            return {"agent_id": self.agent_id, "note": self.note}
        return {
            "agent_id": self.agent_id,
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "cost": self.cost,
        }


def profile_of(agent: Agent, api_key: str | None = None) -> AgentProfile:
    """An agent record as the engine uses it (with the provider key in clear, when given)."""
    return AgentProfile(
        id=agent.id,
        name=agent.name,
        model=agent.model,
        instructions=agent.instructions,
        base_url=agent.base_url,
        api_key=api_key,
        temperature=agent.temperature,
        max_tokens=agent.max_tokens,
        price_per_1k_input=agent.price_per_1k_input,
        price_per_1k_output=agent.price_per_1k_output,
    )


def agent_ref(step: StepDef) -> str | None:
    """The agent an agent_task step names, when it is plain text (not a template)."""
    ref = step.config.get("agent_id")
    if isinstance(ref, str) and ref and not is_template(ref):
        return ref
    return None


def _text(value: Any) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def estimate_agent_step(step: StepDef, agent: AgentProfile | None) -> AgentEstimate:
    """Tokens from the prompt's size and the agent's prices (see BASIS)."""
    ref = step.config.get("agent_id")
    if agent is None:
        why = (
            "agent_id is a template; it is known only at run time"
            if isinstance(ref, str) and is_template(ref)
            else f"agent '{ref}' not found; its model cost is not estimated"
        )
        return AgentEstimate(agent_id=ref if isinstance(ref, str) else None, note=why)
    prompt = agent.instructions + _text(step.config.get("goal")) + _text(step.config.get("context"))
    prompt += _text(step.config.get("output_schema"))
    input_tokens = math.ceil(len(prompt) / CHARS_PER_TOKEN)
    output_tokens = agent.max_tokens or DEFAULT_OUTPUT_TOKENS
    return AgentEstimate(
        cost=agent.cost(input_tokens, output_tokens),
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        agent_id=agent.id,
    )
