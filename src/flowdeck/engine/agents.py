"""What the `agent_task` step needs to know about an agent, and how it asks for one."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class AgentProfile:
    """An agent ready to call: model, instructions, provider overrides (key in clear), prices."""

    id: str
    name: str
    model: str
    instructions: str = ""
    base_url: str | None = None
    api_key: str | None = field(default=None, repr=False)
    temperature: float | None = None
    max_tokens: int | None = None
    price_per_1k_input: float = 0.0
    price_per_1k_output: float = 0.0

    def cost(self, input_tokens: int, output_tokens: int) -> float:
        """What so many tokens cost at this agent's prices (per 1,000 tokens)."""
        total = (
            input_tokens * self.price_per_1k_input + output_tokens * self.price_per_1k_output
        ) / 1000
        return round(total, 6)


AgentLookup = Callable[[str, str], Awaitable[AgentProfile | None]]
"""(workspace id, agent id or name) → the agent, or None when the workspace has no such agent."""
