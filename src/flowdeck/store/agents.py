"""Queries on agents, and on approval steps waiting for a decision."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from flowdeck.domain.agents import Agent, PendingApproval
from flowdeck.domain.records import Page
from flowdeck.store.queries import Queries
from flowdeck.store.tables import agents, runs, step_runs, workflows

_A = agents.c
_S = step_runs.c


def _agent(row: Any) -> Agent:
    return Agent(
        id=row.id,
        workspace_id=row.workspace_id,
        name=row.name,
        model=row.model,
        instructions=row.instructions,
        base_url=row.base_url,
        api_key=row.api_key,
        temperature=row.temperature,
        max_tokens=row.max_tokens,
        price_per_1k_input=row.price_per_1k_input,
        price_per_1k_output=row.price_per_1k_output,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


class AgentQueries(Queries):
    """Agents of a workspace; pending approvals."""

    async def insert_agent(self, agent: Agent) -> None:
        """Store a new agent."""
        await self.conn.execute(
            agents.insert().values(
                id=agent.id,
                workspace_id=agent.workspace_id,
                name=agent.name,
                model=agent.model,
                instructions=agent.instructions,
                base_url=agent.base_url,
                api_key=agent.api_key,
                temperature=agent.temperature,
                max_tokens=agent.max_tokens,
                price_per_1k_input=agent.price_per_1k_input,
                price_per_1k_output=agent.price_per_1k_output,
                created_at=agent.created_at,
                updated_at=agent.updated_at,
            )
        )

    async def get_agent(self, workspace_id: str, id_or_name: str) -> Agent | None:
        """An agent of the workspace by id, or else by name."""
        base = sa.select(agents).where(_A.workspace_id == workspace_id)
        row = (await self.conn.execute(base.where(_A.id == id_or_name))).first()
        if row is None:
            row = (await self.conn.execute(base.where(_A.name == id_or_name))).first()
        return _agent(row) if row else None

    async def agent_name_taken(
        self, workspace_id: str, name: str, *, except_id: str | None = None
    ) -> bool:
        """Whether another agent of the workspace has this name."""
        query = sa.select(_A.id).where(_A.workspace_id == workspace_id, _A.name == name)
        if except_id is not None:
            query = query.where(_A.id != except_id)
        return (await self.conn.execute(query.limit(1))).first() is not None

    async def list_agents(
        self, workspace_id: str, *, limit: int, offset: int = 0, before_id: str | None = None
    ) -> Page[Agent]:
        """A page of the workspace's agents, newest first."""
        where = [_A.workspace_id == workspace_id]
        total = (
            await self.conn.execute(sa.select(sa.func.count()).select_from(agents).where(*where))
        ).scalar_one()
        query = sa.select(agents).where(*where)
        if before_id is not None:
            query = query.where(_A.id < before_id)
        rows = list(
            await self.conn.execute(query.order_by(_A.id.desc()).limit(limit).offset(offset))
        )
        items = [_agent(r) for r in rows]
        more = len(items) == limit and (offset + limit < total or before_id is not None)
        return Page(items=items, total=int(total), next_cursor=items[-1].id if more else None)

    async def update_agent(self, agent_id: str, values: dict[str, Any]) -> bool:
        """Change an agent's fields; False when it does not exist."""
        result = await self.conn.execute(agents.update().where(_A.id == agent_id).values(**values))
        return result.rowcount == 1

    async def delete_agent(self, workspace_id: str, agent_id: str) -> bool:
        """Delete an agent; False when there was none."""
        result = await self.conn.execute(
            agents.delete().where(_A.workspace_id == workspace_id, _A.id == agent_id)
        )
        return result.rowcount == 1

    async def pending_approvals(
        self,
        workspace_id: str,
        *,
        limit: int,
        offset: int = 0,
        workflow_id: str | None = None,
        after: str | None = None,
    ) -> Page[PendingApproval]:
        """Current `approval` step runs waiting for a decision, oldest first; `after` is the
        step run id a previous page ended with."""
        where = [
            runs.c.workspace_id == workspace_id,
            _S.step_type == "approval",
            _S.status == "waiting",
            _S.is_current.is_(True),
        ]
        if workflow_id is not None:
            where.append(runs.c.workflow_id == workflow_id)
        joined = step_runs.join(runs, runs.c.id == _S.run_id).join(
            workflows, workflows.c.id == runs.c.workflow_id
        )
        total = (
            await self.conn.execute(sa.select(sa.func.count()).select_from(joined).where(*where))
        ).scalar_one()
        if after is not None:
            mark = sa.select(_S.started_at).where(_S.id == after).scalar_subquery()
            where.append(sa.tuple_(_S.started_at, _S.id) > sa.tuple_(mark, sa.literal(after)))
            offset = 0
        rows = await self.conn.execute(
            sa.select(
                _S.id,
                _S.run_id,
                _S.step_id,
                _S.state,
                _S.started_at,
                _S.wake_at,
                runs.c.workflow_id,
                runs.c.status.label("run_status"),
                runs.c.created_by,
                workflows.c.name,
                workflows.c.slug,
            )
            .select_from(joined)
            .where(*where)
            .order_by(_S.started_at, _S.id)
            .limit(limit + 1)
            .offset(offset)
        )
        items = [_pending(r) for r in rows]
        more = len(items) > limit
        items = items[:limit]
        return Page(
            items=items, total=int(total), next_cursor=items[-1].step_run_id if more else None
        )


def _pending(r: Any) -> PendingApproval:
    return PendingApproval(
        run_id=r.run_id,
        step_id=r.step_id,
        step_run_id=r.id,
        workflow_id=r.workflow_id,
        workflow_name=r.name,
        workflow_slug=r.slug,
        run_status=r.run_status,
        state=dict(r.state or {}),
        started_at=r.started_at,
        wake_at=r.wake_at,
        run_created_by=r.created_by,
    )
