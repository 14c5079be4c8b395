"""/api/agents: the workspace's agents (SPEC §5 Workspace administration)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response
from pydantic import Field

from flowdeck.api.deps import PrincipalDep, ServicesDep
from flowdeck.api.retry import RetryingRoute
from flowdeck.api.schemas import Limit, MaxTokens, Offset, RequestBody
from flowdeck.models import AgentCreated, AgentEnvelope, AgentList
from flowdeck.services.agents import agent_view

router = APIRouter(route_class=RetryingRoute, prefix="/api/agents", tags=["agents"])


class AgentFields(RequestBody):
    """The fields of an agent; on update, any subset (null clears an optional one)."""

    name: str | None = Field(default=None, max_length=200)
    model: str | None = Field(default=None, max_length=200)
    instructions: str | None = Field(default=None, max_length=100_000)
    base_url: str | None = Field(default=None, description="OpenAI-compatible base URL (…/v1)")
    api_key: str | None = Field(
        default=None, description="Provider key for this agent (admin; stored encrypted)"
    )
    temperature: float | None = None
    max_tokens: MaxTokens | None = None
    price_per_1k_input: float | None = Field(default=None, description="Credits per 1,000")
    price_per_1k_output: float | None = Field(default=None, description="Credits per 1,000")


@router.post("", status_code=201, response_model=AgentCreated)
async def create_agent(
    body: AgentFields, principal: PrincipalDep, services: ServicesDep, response: Response
) -> dict[str, Any]:
    """Create an agent; `name` and `model` are required."""
    agent = await services.agents.create(principal, body.model_dump(exclude_unset=True))
    response.headers["Location"] = f"/api/agents/{agent.id}"
    return {"id": agent.id, "agent": agent_view(agent)}


@router.get("", response_model=AgentList)
async def list_agents(
    principal: PrincipalDep,
    services: ServicesDep,
    limit: Limit = 50,
    offset: Offset = 0,
    cursor: str | None = None,
) -> dict[str, Any]:
    """The workspace's agents, newest first."""
    page = await services.agents.list_agents(principal, limit=limit, offset=offset, cursor=cursor)
    return {
        "agents": [agent_view(a) for a in page.items],
        "total": page.total,
        "next_cursor": page.next_cursor,
    }


@router.get("/{agent_id}", response_model=AgentEnvelope)
async def get_agent(agent_id: str, principal: PrincipalDep, services: ServicesDep) -> Any:
    """One agent, by id or name."""
    return {"agent": agent_view(await services.agents.get(principal, agent_id))}


@router.put("/{agent_id}", response_model=AgentEnvelope, name="put_agent")
@router.patch("/{agent_id}", response_model=AgentEnvelope)
async def update_agent(
    agent_id: str, body: AgentFields, principal: PrincipalDep, services: ServicesDep
) -> dict[str, Any]:
    """Change any subset of an agent's fields."""
    changes = body.model_dump(exclude_unset=True)
    return {"agent": agent_view(await services.agents.update(principal, agent_id, changes))}


@router.delete("/{agent_id}", status_code=204)
async def delete_agent(agent_id: str, principal: PrincipalDep, services: ServicesDep) -> Response:
    """Delete an agent."""
    await services.agents.delete(principal, agent_id)
    return Response(status_code=204)
