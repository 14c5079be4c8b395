"""Queries on workspace templates (built-in templates are package data, not rows)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from flowdeck.domain.catalog import Template
from flowdeck.domain.records import Page
from flowdeck.store.queries import Queries
from flowdeck.store.tables import templates

_T = templates.c


def _template(row: Any) -> Template:
    return Template(
        id=row.id,
        name=row.name,
        category=row.category,
        description=row.description,
        definition=row.definition,
        is_builtin=False,
        workspace_id=row.workspace_id,
        source_workflow_id=row.source_workflow_id,
        created_by=row.created_by,
        created_at=row.created_at,
    )


class TemplateQueries(Queries):
    """Workspace templates."""

    async def insert_template(self, template: Template) -> None:
        """Store a workspace template."""
        await self.conn.execute(
            templates.insert().values(
                id=template.id,
                workspace_id=template.workspace_id,
                name=template.name,
                category=template.category,
                description=template.description,
                definition=template.definition,
                source_workflow_id=template.source_workflow_id,
                created_by=template.created_by,
                created_at=template.created_at,
            )
        )

    async def get_template(self, workspace_id: str, template_id: str) -> Template | None:
        """The workspace's template with this id."""
        row = (
            await self.conn.execute(
                sa.select(templates).where(_T.workspace_id == workspace_id, _T.id == template_id)
            )
        ).first()
        return _template(row) if row else None

    async def template_name_taken(self, workspace_id: str, name: str) -> bool:
        """Whether a template of the workspace already has this name."""
        found = await self.conn.execute(
            sa.select(_T.id).where(_T.workspace_id == workspace_id, _T.name == name).limit(1)
        )
        return found.first() is not None

    async def list_templates(
        self,
        workspace_id: str,
        *,
        category: str | None,
        limit: int,
        offset: int = 0,
        before_id: str | None = None,
    ) -> Page[Template]:
        """A page of the workspace's templates, newest first, with the filtered total."""
        conds: list[sa.ColumnElement[bool]] = [_T.workspace_id == workspace_id]
        if category is not None:
            conds.append(_T.category == category)
        total = (
            await self.conn.execute(sa.select(sa.func.count()).select_from(templates).where(*conds))
        ).scalar_one()
        if before_id is not None:
            conds.append(_T.id < before_id)
        rows = await self.conn.execute(
            sa.select(templates)
            .where(*conds)
            .order_by(_T.id.desc())
            .limit(limit + 1)
            .offset(offset)
        )
        items = [_template(r) for r in rows]
        more = len(items) > limit
        items = items[:limit]
        return Page(items=items, total=int(total), next_cursor=items[-1].id if more else None)

    async def delete_template(self, workspace_id: str, template_id: str) -> bool:
        """Delete one of the workspace's templates; False when it has none with this id."""
        result = await self.conn.execute(
            templates.delete().where(_T.workspace_id == workspace_id, _T.id == template_id)
        )
        return result.rowcount == 1

    async def templates_from_workflow(self, workspace_id: str, workflow_id: str) -> list[Template]:
        """The workspace's templates saved from this workflow, newest first."""
        rows = await self.conn.execute(
            sa.select(templates)
            .where(_T.workspace_id == workspace_id, _T.source_workflow_id == workflow_id)
            .order_by(_T.id.desc())
        )
        return [_template(r) for r in rows]
