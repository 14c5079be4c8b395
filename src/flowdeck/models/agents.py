"""Agents, as the API answers them."""

from __future__ import annotations

from pydantic import Field

from flowdeck.models.base import ApiModel, Paged, Timestamp


class AgentView(ApiModel):
    """An agent: never its provider key, only whether it has one."""

    id: str = Field(examples=["agent_01J9Z8Q4T5V6W7X8Y9Z0ABCDEF"])
    name: str
    model: str
    instructions: str | None
    base_url: str | None
    has_api_key: bool
    temperature: float | None
    max_tokens: int | None
    price_per_1k_input: float | None
    price_per_1k_output: float | None
    created_at: Timestamp
    updated_at: Timestamp


class AgentEnvelope(ApiModel):
    """One agent."""

    agent: AgentView


class AgentCreated(ApiModel):
    """A new agent."""

    id: str
    agent: AgentView


class AgentList(Paged):
    """The workspace's agents, newest first."""

    agents: list[AgentView]
