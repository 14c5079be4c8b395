"""Queries on workflows, their tags and versions."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from flowdeck.domain.records import Page, Workflow, WorkflowFilter, WorkflowVersion
from flowdeck.store.queries import Queries
from flowdeck.store.rows import row_of, select_all
from flowdeck.store.tables import (
    api_keys,
    runs,
    schedules,
    workflow_refs,
    workflow_tags,
    workflow_versions,
    workflows,
)

_ACTIVE_RUN = ("queued", "running", "waiting", "paused")


def workflow_from_row(row: Any) -> Workflow:
    """A workflows row as a record."""
    return Workflow(
        id=row.id,
        workspace_id=row.workspace_id,
        slug=row.slug,
        name=row.name,
        description=row.description,
        tags=tuple(row.tags),
        status=row.status,
        trigger_type=row.trigger_type,
        visibility=row.visibility,
        version=row.version,
        definition=row.definition,
        created_at=row.created_at,
        updated_at=row.updated_at,
        created_by=row.created_by,
        deleted_at=row.deleted_at,
        pre_archive_status=row.pre_archive_status,
        source_workflow_id=row.source_workflow_id,
        source_kind=row.source_kind,
        webhook_secret=row.webhook_secret,
        legacy_webhook_signature=bool(row.legacy_webhook_signature),
        project_id=row.project_id,
    )


def _version(row: Any) -> WorkflowVersion:
    return WorkflowVersion(
        workflow_id=row.workflow_id,
        version=row.version,
        definition=row.definition,
        change_summary=row.change_summary,
        created_at=row.created_at,
        created_by=row.created_by,
    )


class WorkflowQueries(Queries):
    """Workflows, tags and versions."""

    async def insert_workflow(self, wf: Workflow) -> None:
        """Store a new workflow row and its tags."""
        await self.conn.execute(
            workflows.insert().values(
                id=wf.id,
                workspace_id=wf.workspace_id,
                slug=wf.slug,
                name=wf.name,
                description=wf.description,
                tags=list(wf.tags),
                status=wf.status,
                trigger_type=wf.trigger_type,
                visibility=wf.visibility,
                version=wf.version,
                definition=wf.definition,
                created_by=wf.created_by,
                created_at=wf.created_at,
                updated_at=wf.updated_at,
                deleted_at=wf.deleted_at,
                pre_archive_status=wf.pre_archive_status,
                source_workflow_id=wf.source_workflow_id,
                source_kind=wf.source_kind,
                webhook_secret=wf.webhook_secret,
                legacy_webhook_signature=wf.legacy_webhook_signature,
                project_id=wf.project_id,
            )
        )
        await self._insert_tags(wf.id, wf.tags)
        await self.conn.execute(
            workflow_refs.insert().values(
                workflow_id=wf.id,
                uuid=str(uuid.uuid4()),
                owner_key_id=wf.owner_key_id,
                run_count=0,
                extras={},
            )
        )

    async def _insert_tags(self, workflow_id: str, tags: Sequence[str]) -> None:
        if tags:
            await self.conn.execute(
                workflow_tags.insert(), [{"workflow_id": workflow_id, "tag": t} for t in tags]
            )

    async def get_workflow(
        self, workspace_id: str, id_or_slug: str, *, include_deleted: bool = False
    ) -> Workflow | None:
        """The workflow with this id or slug in the workspace."""
        by_id = id_or_slug.startswith("wf_")
        found = await self._workflow_where(
            "id" if by_id else "slug", workspace_id, id_or_slug, include_deleted
        )
        if found is None and by_id:
            # A slug may itself start with "wf_"; fall back to it.
            return await self._workflow_where("slug", workspace_id, id_or_slug, include_deleted)
        return found

    async def _workflow_where(
        self, column: str, workspace_id: str, value: str, include_deleted: bool
    ) -> Workflow | None:
        db = await self.db()
        sql = f"{select_all(workflows)} WHERE workspace_id = :ws AND {column} = :value"
        if not include_deleted:
            sql += " AND deleted_at IS NULL"
        rows = await db.rows(sql, {"ws": workspace_id, "value": value})
        return workflow_from_row(row_of(db, workflows, rows[0])) if rows else None

    async def workflow_name_taken(
        self, workspace_id: str, *, name: str | None = None, slug: str | None = None
    ) -> tuple[bool, bool]:
        """Whether `name` and `slug` are already used in the workspace (trash included)."""
        conds = []
        if name is not None:
            conds.append(workflows.c.name == name)
        if slug is not None:
            conds.append(workflows.c.slug == slug)
        if not conds:
            return False, False
        rows = await self.conn.execute(
            sa.select(workflows.c.name, workflows.c.slug).where(
                workflows.c.workspace_id == workspace_id, sa.or_(*conds)
            )
        )
        found = list(rows)
        return (
            name is not None and any(r.name == name for r in found),
            slug is not None and any(r.slug == slug for r in found),
        )

    async def list_workflows(
        self,
        workspace_id: str,
        flt: WorkflowFilter,
        *,
        limit: int,
        offset: int = 0,
        before_id: str | None = None,
    ) -> Page[Workflow]:
        """A page of workflows, newest first, with the filtered total."""
        conds: list[sa.ColumnElement[bool]] = [workflows.c.workspace_id == workspace_id]
        if flt.deleted:
            conds.append(workflows.c.deleted_at.is_not(None))
        else:
            conds.append(workflows.c.deleted_at.is_(None))
        if flt.status:
            conds.append(workflows.c.status == flt.status)
        if flt.only_archived:
            conds.append(workflows.c.status == "archived")
        elif not flt.include_archived and flt.status != "archived":
            conds.append(workflows.c.status != "archived")
        if flt.trigger_type:
            conds.append(workflows.c.trigger_type == flt.trigger_type)
        if flt.project_id:
            conds.append(workflows.c.project_id == flt.project_id)
        if flt.tag:
            conds.append(
                workflows.c.id.in_(
                    sa.select(workflow_tags.c.workflow_id).where(workflow_tags.c.tag == flt.tag)
                )
            )
        if flt.q:
            pattern = (
                "%" + flt.q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            )
            conds.append(
                sa.or_(
                    workflows.c.name.ilike(pattern, escape="\\"),
                    workflows.c.description.ilike(pattern, escape="\\"),
                    workflows.c.slug.ilike(pattern, escape="\\"),
                )
            )
        total = (
            await self.conn.execute(sa.select(sa.func.count()).select_from(workflows).where(*conds))
        ).scalar_one()
        page_conds = list(conds)
        if before_id is not None:
            page_conds.append(workflows.c.id < before_id)
        rows = await self.conn.execute(
            sa.select(workflows)
            .where(*page_conds)
            .order_by(workflows.c.id.desc())
            .limit(limit + 1)
            .offset(offset)
        )
        items = [workflow_from_row(r) for r in rows]
        has_more = len(items) > limit
        items = items[:limit]
        cursor = items[-1].id if has_more and items else None
        return Page(items=items, total=int(total), next_cursor=cursor)

    async def update_workflow(
        self,
        workflow_id: str,
        values: dict[str, Any],
        *,
        expected_version: int | None = None,
    ) -> bool:
        """Apply `values`; with `expected_version`, only if the version is still that one."""
        query = workflows.update().where(workflows.c.id == workflow_id)
        if expected_version is not None:
            query = query.where(workflows.c.version == expected_version)
        values = dict(values)
        tags = values.get("tags")
        if tags is not None:
            values["tags"] = list(tags)
        result = await self.conn.execute(query.values(**values))
        if result.rowcount != 1:
            return False
        if tags is not None:
            await self.conn.execute(
                workflow_tags.delete().where(workflow_tags.c.workflow_id == workflow_id)
            )
            await self._insert_tags(workflow_id, tags)
        return True

    async def insert_version(self, version: WorkflowVersion) -> None:
        """Store an immutable definition snapshot."""
        await self.conn.execute(
            workflow_versions.insert().values(
                workflow_id=version.workflow_id,
                version=version.version,
                definition=version.definition,
                change_summary=version.change_summary,
                created_by=version.created_by,
                created_at=version.created_at,
            )
        )

    async def list_versions(self, workflow_id: str) -> list[WorkflowVersion]:
        """Every version of the workflow, newest first."""
        rows = await self.conn.execute(
            sa.select(workflow_versions)
            .where(workflow_versions.c.workflow_id == workflow_id)
            .order_by(workflow_versions.c.version.desc())
        )
        return [_version(r) for r in rows]

    async def get_version(self, workflow_id: str, version: int) -> WorkflowVersion | None:
        """One version of the workflow."""
        row = (
            await self.conn.execute(
                sa.select(workflow_versions).where(
                    workflow_versions.c.workflow_id == workflow_id,
                    workflow_versions.c.version == version,
                )
            )
        ).first()
        return _version(row) if row else None

    # -- lifecycle and access: trash, permanent delete, hooks, tokens --

    async def get_workflow_by_id(
        self, workflow_id: str, *, include_deleted: bool = False
    ) -> Workflow | None:
        """A workflow by id alone, whatever its workspace (inbound hooks, the purge)."""
        query = sa.select(workflows).where(workflows.c.id == workflow_id)
        if not include_deleted:
            query = query.where(workflows.c.deleted_at.is_(None))
        row = (await self.conn.execute(query)).first()
        return workflow_from_row(row) if row else None

    async def workflow_run_counts(self, workflow_id: str) -> tuple[int, int]:
        """How many runs the workflow has, and how many of those have not ended."""
        row = (
            await self.conn.execute(
                sa.select(
                    sa.func.count().label("total"),
                    sa.func.count().filter(runs.c.status.in_(_ACTIVE_RUN)).label("active"),
                ).where(runs.c.workflow_id == workflow_id)
            )
        ).one()
        return int(row.total), int(row.active)

    async def active_run_ids(self, workflow_id: str) -> list[str]:
        """Ids of the workflow's runs that have not ended, oldest first."""
        rows = await self.conn.execute(
            sa.select(runs.c.id)
            .where(runs.c.workflow_id == workflow_id, runs.c.status.in_(_ACTIVE_RUN))
            .order_by(runs.c.id)
        )
        return [r[0] for r in rows]

    async def count_workflow_schedules(self, workflow_id: str) -> int:
        """How many schedules trigger the workflow."""
        query = sa.select(sa.func.count()).where(schedules.c.workflow_id == workflow_id)
        return int((await self.conn.execute(query)).scalar_one())

    async def delete_workflow(
        self, workflow_id: str, *, trashed_before: datetime | None = None
    ) -> int | None:
        """Delete the workflow for good with its runs, versions, tags and schedules.

        Returns how many runs went with it, or None when no row matched. With
        `trashed_before`, only a workflow in the trash since before then matches, so two
        purgers racing on PostgreSQL delete it once (the row lock serialises them).
        """
        conds: list[sa.ColumnElement[bool]] = [workflows.c.id == workflow_id]
        if trashed_before is not None:
            conds += [workflows.c.deleted_at.is_not(None), workflows.c.deleted_at < trashed_before]
        locked = (
            await self.conn.execute(sa.select(workflows.c.id).where(*conds).with_for_update())
        ).first()
        if locked is None:
            return None
        # Runs first, to count them; step runs, events, versions, tags and schedules
        # follow by ON DELETE CASCADE (SQLite runs with foreign_keys=ON).
        deleted_runs = await self.conn.execute(
            runs.delete().where(runs.c.workflow_id == workflow_id)
        )
        result = await self.conn.execute(workflows.delete().where(*conds))
        return int(deleted_runs.rowcount) if result.rowcount == 1 else None

    async def expired_trash(self, cutoff: datetime, limit: int) -> list[str]:
        """Ids of workflows in the trash since before `cutoff`, across workspaces."""
        rows = await self.conn.execute(
            sa.select(workflows.c.id)
            .where(workflows.c.deleted_at.is_not(None), workflows.c.deleted_at < cutoff)
            .order_by(workflows.c.deleted_at, workflows.c.id)
            .limit(limit)
        )
        return [r[0] for r in rows]

    async def set_webhook_secret(
        self, workflow_id: str, ciphertext: str, *, only_if_missing: bool
    ) -> bool:
        """Store the encrypted webhook secret; with `only_if_missing`, only when there is none."""
        query = workflows.update().where(workflows.c.id == workflow_id)
        if only_if_missing:
            query = query.where(workflows.c.webhook_secret.is_(None))
        result = await self.conn.execute(query.values(webhook_secret=ciphertext))
        return result.rowcount == 1

    async def live_api_key_name(self, key_id: str, workspace_id: str) -> str | None:
        """The name of a key that is not revoked (a workflow token dies with its key)."""
        row = (
            await self.conn.execute(
                sa.select(api_keys.c.name).where(
                    api_keys.c.id == key_id,
                    api_keys.c.workspace_id == workspace_id,
                    api_keys.c.revoked_at.is_(None),
                )
            )
        ).first()
        return str(row[0]) if row else None
