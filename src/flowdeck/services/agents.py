"""Agents: CRUD for the workspace's agents, and the lookup `agent_task` steps use."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from flowdeck.crypto import SecretBox
from flowdeck.domain.agents import Agent
from flowdeck.domain.clock import Clock, isoformat
from flowdeck.domain.ids import new_id
from flowdeck.domain.records import Page
from flowdeck.engine.agents import AgentProfile
from flowdeck.errors import Conflict, InvalidInput, NotFound
from flowdeck.services.auth import Principal
from flowdeck.services.costs import profile_of
from flowdeck.services.ports import StorePort, TxPort

FIELDS = (
    "name",
    "model",
    "instructions",
    "base_url",
    "api_key",
    "temperature",
    "max_tokens",
    "price_per_1k_input",
    "price_per_1k_output",
)


def agent_view(agent: Agent) -> dict[str, Any]:
    """An agent as the API shows it: never its provider key, only whether it has one."""
    return {
        "id": agent.id,
        "name": agent.name,
        "model": agent.model,
        "instructions": agent.instructions,
        "base_url": agent.base_url,
        "has_api_key": agent.api_key is not None,
        "temperature": agent.temperature,
        "max_tokens": agent.max_tokens,
        "price_per_1k_input": agent.price_per_1k_input,
        "price_per_1k_output": agent.price_per_1k_output,
        "created_at": isoformat(agent.created_at),
        "updated_at": isoformat(agent.updated_at),
    }


def _check(values: Mapping[str, Any], errors: list[str]) -> dict[str, Any]:
    """Normalised values; every broken rule appended to `errors` as a sentence."""
    out = dict(values)
    for name in ("name", "model"):
        if name in out:
            text = out[name]
            if not isinstance(text, str) or not text.strip():
                errors.append(f"{name} must not be empty")
            elif len(text.strip()) > 200:
                errors.append(f"{name} may be at most 200 characters")
            else:
                out[name] = text.strip()
    if "instructions" in out and out["instructions"] is None:
        out["instructions"] = ""
    base_url = out.get("base_url")
    if base_url is not None:
        parts = urlsplit(str(base_url))
        if parts.scheme not in ("http", "https") or not parts.netloc:
            errors.append(
                f"base_url must be an http(s) URL such as http://localhost:11434/v1; "
                f"got '{base_url}'"
            )
        elif len(str(base_url)) > 500:
            errors.append("base_url may be at most 500 characters")
    if out.get("api_key") == "":
        out["api_key"] = None
    temperature = out.get("temperature")
    if temperature is not None and not (math.isfinite(temperature) and 0 <= temperature <= 2):
        errors.append("temperature must be between 0 and 2")
    max_tokens = out.get("max_tokens")
    if max_tokens is not None and max_tokens < 1:
        errors.append("max_tokens must be at least 1")
    for price in ("price_per_1k_input", "price_per_1k_output"):
        if price in out:
            if out[price] is None:
                out[price] = 0.0
            elif not (math.isfinite(out[price]) and out[price] >= 0):
                errors.append(f"{price} must be a finite number, at least 0")
    return out


class AgentService:
    """The workspace's agents; provider keys are stored encrypted and never returned."""

    def __init__(self, store: StorePort, clock: Clock, box: SecretBox) -> None:
        self.store = store
        self.clock = clock
        self.box = box

    async def _load(self, tx: TxPort, principal: Principal, id_or_name: str) -> Agent:
        agent = await tx.get_agent(principal.workspace_id, id_or_name)
        if agent is None:
            raise NotFound(f"Agent '{id_or_name}' not found")
        return agent

    async def create(self, principal: Principal, values: Mapping[str, Any]) -> Agent:
        """A new agent; `name` and `model` are required, a provider key needs admin."""
        principal.require("workflows:write")
        if values.get("api_key"):
            principal.require("workflows:admin")
        errors: list[str] = []
        for required in ("name", "model"):
            if values.get(required) is None:
                errors.append(f"{required} is required")
        clean = _check({k: v for k, v in values.items() if k in FIELDS}, errors)
        if errors:
            raise InvalidInput("The agent is invalid", errors=errors)
        now = self.clock.now()
        key = clean.get("api_key")
        agent = Agent(
            id=new_id("agent"),
            workspace_id=principal.workspace_id,
            name=clean["name"],
            model=clean["model"],
            instructions=clean.get("instructions") or "",
            base_url=clean.get("base_url"),
            api_key=self.box.encrypt(key) if key else None,
            temperature=clean.get("temperature"),
            max_tokens=clean.get("max_tokens"),
            price_per_1k_input=clean.get("price_per_1k_input") or 0.0,
            price_per_1k_output=clean.get("price_per_1k_output") or 0.0,
            created_at=now,
            updated_at=now,
        )
        async with self.store.write() as tx:
            if await tx.agent_name_taken(principal.workspace_id, agent.name):
                raise Conflict(f"An agent named '{agent.name}' already exists in this workspace")
            await tx.insert_agent(agent)
        return agent

    async def get(self, principal: Principal, id_or_name: str) -> Agent:
        """One agent, by id or name."""
        principal.require("workflows:read")
        async with self.store.read() as tx:
            return await self._load(tx, principal, id_or_name)

    async def list_agents(
        self, principal: Principal, *, limit: int = 50, offset: int = 0, cursor: str | None = None
    ) -> Page[Agent]:
        """A page of the workspace's agents, newest first."""
        principal.require("workflows:read")
        if cursor is not None and not cursor.startswith("agent_"):
            raise InvalidInput("Invalid cursor", errors=[f"cursor '{cursor}' is not an agent id"])
        async with self.store.read() as tx:
            return await tx.list_agents(
                principal.workspace_id,
                limit=limit,
                offset=0 if cursor else offset,
                before_id=cursor,
            )

    async def update(
        self, principal: Principal, id_or_name: str, changes: Mapping[str, Any]
    ) -> Agent:
        """Change any subset of the fields; `api_key` (set or cleared with null) needs admin."""
        principal.require("workflows:write")
        if "api_key" in changes:
            principal.require("workflows:admin")
        errors: list[str] = []
        for required in ("name", "model"):
            if required in changes and changes[required] is None:
                errors.append(f"{required} must not be empty")
        clean = _check({k: v for k, v in changes.items() if k in FIELDS}, errors)
        if errors:
            raise InvalidInput("The agent is invalid", errors=errors)
        if "api_key" in clean:
            key = clean["api_key"]
            clean["api_key"] = self.box.encrypt(key) if key else None
        async with self.store.write() as tx:
            agent = await self._load(tx, principal, id_or_name)
            name = clean.get("name")
            if name and await tx.agent_name_taken(principal.workspace_id, name, except_id=agent.id):
                raise Conflict(f"An agent named '{name}' already exists in this workspace")
            if clean:
                await tx.update_agent(agent.id, {**clean, "updated_at": self.clock.now()})
            return await self._load(tx, principal, agent.id)

    async def delete(self, principal: Principal, id_or_name: str) -> None:
        """Delete an agent; steps that name it then fail with 'not found'."""
        principal.require("workflows:write")
        async with self.store.write() as tx:
            agent = await self._load(tx, principal, id_or_name)
            await tx.delete_agent(principal.workspace_id, agent.id)

    async def profile(self, workspace_id: str, id_or_name: str) -> AgentProfile | None:
        """The agent as a step calls it (provider key decrypted), or None (AgentLookup)."""
        async with self.store.read() as tx:
            agent = await tx.get_agent(workspace_id, id_or_name)
        return None if agent is None else self.to_profile(agent)

    def to_profile(self, agent: Agent) -> AgentProfile:
        """An agent record as the engine uses it."""
        key = None
        if agent.api_key is not None:
            try:
                key = self.box.decrypt(agent.api_key)
            except ValueError:
                key = None  # written under another server key: unusable
        return profile_of(agent, key)
