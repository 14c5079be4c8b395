"""Queries of the seed-compatible APIs: workflow references, projects, run numbers, files."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from flowdeck.domain.compat import Project, UploadedFile, WorkflowRef
from flowdeck.store.queries import Queries
from flowdeck.store.tables import (
    api_key_numbers,
    api_keys,
    projects,
    run_numbers,
    runs,
    uploaded_files,
    workflow_refs,
    workflows,
    workspaces,
)


def _ref(row: Any) -> WorkflowRef:
    return WorkflowRef(
        workflow_id=row.workflow_id,
        number=row.number,
        uuid=row.uuid,
        owner_key_id=row.owner_key_id,
        run_count=row.run_count,
        extras=dict(row.extras or {}),
    )


def _project(row: Any) -> Project:
    return Project(
        id=row.id,
        workspace_id=row.workspace_id,
        name=row.name,
        description=row.description,
        created_at=row.created_at,
    )


def _file(row: Any) -> UploadedFile:
    return UploadedFile(
        id=row.id,
        workspace_id=row.workspace_id,
        content_type=row.content_type,
        size=row.size,
        created_by=row.created_by,
        created_at=row.created_at,
        uploaded_at=row.uploaded_at,
    )


class CompatQueries(Queries):
    """What the seed-compatible APIs store beside Flowdeck's own records."""

    # -- workspaces ------------------------------------------------------------------------

    async def workspace_uuid(self, workspace_id: str) -> str:
        """The workspace's UUID (given now if it has none yet)."""
        found = (
            await self.conn.execute(
                sa.select(workspaces.c.uuid).where(workspaces.c.id == workspace_id)
            )
        ).scalar_one_or_none()
        if found:
            return str(found)
        fresh = str(uuid.uuid4())
        await self.conn.execute(
            workspaces.update()
            .where(workspaces.c.id == workspace_id, workspaces.c.uuid.is_(None))
            .values(uuid=fresh)
        )
        return fresh

    async def workspace_id_by_uuid(self, workspace_uuid: str) -> str | None:
        """The id of the workspace with this UUID."""
        found = (
            await self.conn.execute(
                sa.select(workspaces.c.id).where(workspaces.c.uuid == workspace_uuid)
            )
        ).scalar_one_or_none()
        return str(found) if found is not None else None

    # -- workflow references ---------------------------------------------------------------

    async def workflow_refs(self, workflow_ids: Sequence[str]) -> dict[str, WorkflowRef]:
        """The references of these workflows, by workflow id."""
        if not workflow_ids:
            return {}
        rows = await self.conn.execute(
            sa.select(workflow_refs).where(workflow_refs.c.workflow_id.in_(list(workflow_ids)))
        )
        return {r.workflow_id: _ref(r) for r in rows}

    async def workflow_id_by_ref(self, workspace_id: str, ref: str) -> str | None:
        """The id of the workspace's workflow with this integer id or UUID (trash included)."""
        if ref.isascii() and ref.isdigit():
            if len(ref) > 9:
                return None
            where = workflow_refs.c.number == int(ref)
        else:
            where = workflow_refs.c.uuid == ref.lower()
        found = (
            await self.conn.execute(
                sa.select(workflow_refs.c.workflow_id)
                .join(workflows, workflows.c.id == workflow_refs.c.workflow_id)
                .where(where, workflows.c.workspace_id == workspace_id)
            )
        ).scalar_one_or_none()
        return str(found) if found is not None else None

    async def update_workflow_ref(self, workflow_id: str, values: dict[str, Any]) -> None:
        """Change a workflow's owner or seed fields."""
        await self.conn.execute(
            workflow_refs.update()
            .where(workflow_refs.c.workflow_id == workflow_id)
            .values(**values)
        )

    async def key_numbers(self, key_ids: Sequence[str]) -> dict[str, int]:
        """The integer ids of these keys, by key id."""
        if not key_ids:
            return {}
        rows = await self.conn.execute(
            sa.select(api_key_numbers.c.key_id, api_key_numbers.c.number).where(
                api_key_numbers.c.key_id.in_(list(key_ids))
            )
        )
        return {r.key_id: int(r.number) for r in rows}

    async def key_id_by_number(self, workspace_id: str, number: int) -> str | None:
        """The id of the workspace's live key with this integer id."""
        found = (
            await self.conn.execute(
                sa.select(api_keys.c.id)
                .join(api_key_numbers, api_key_numbers.c.key_id == api_keys.c.id)
                .where(
                    api_key_numbers.c.number == number,
                    api_keys.c.workspace_id == workspace_id,
                    api_keys.c.revoked_at.is_(None),
                )
            )
        ).scalar_one_or_none()
        return str(found) if found is not None else None

    # -- run numbers -----------------------------------------------------------------------

    async def number_runs(self, workflow_id: str) -> None:
        """Number the workflow's runs that have no number yet, oldest first."""
        # Touching the reference row first holds its lock (PostgreSQL): numbering is one at a time.
        await self.conn.execute(
            workflow_refs.update()
            .where(workflow_refs.c.workflow_id == workflow_id)
            .values(run_count=workflow_refs.c.run_count)
        )
        rows = await self.conn.execute(
            sa.select(runs.c.id)
            .select_from(runs.outerjoin(run_numbers, run_numbers.c.run_id == runs.c.id))
            .where(runs.c.workflow_id == workflow_id, run_numbers.c.run_id.is_(None))
            .order_by(runs.c.created_at, runs.c.id)
        )
        fresh = [r.id for r in rows]
        if not fresh:
            return
        start = (
            await self.conn.execute(
                sa.select(workflow_refs.c.run_count).where(
                    workflow_refs.c.workflow_id == workflow_id
                )
            )
        ).scalar_one_or_none()
        if start is None:
            return
        await self.conn.execute(
            run_numbers.insert(),
            [
                {"run_id": run_id, "workflow_id": workflow_id, "number": start + i + 1}
                for i, run_id in enumerate(fresh)
            ],
        )
        await self.update_workflow_ref(workflow_id, {"run_count": start + len(fresh)})

    async def run_numbers(self, run_ids: Sequence[str]) -> dict[str, int]:
        """The numbers of these runs, by run id."""
        if not run_ids:
            return {}
        rows = await self.conn.execute(
            sa.select(run_numbers.c.run_id, run_numbers.c.number).where(
                run_numbers.c.run_id.in_(list(run_ids))
            )
        )
        return {r.run_id: int(r.number) for r in rows}

    # -- projects --------------------------------------------------------------------------

    async def insert_project(self, project: Project) -> None:
        """Store a new project."""
        await self.conn.execute(
            projects.insert().values(
                id=project.id,
                workspace_id=project.workspace_id,
                name=project.name,
                description=project.description,
                created_at=project.created_at,
            )
        )

    async def get_project(self, workspace_id: str, id_or_name: str) -> Project | None:
        """The workspace's project with this id or name."""
        row = (
            await self.conn.execute(
                sa.select(projects).where(
                    projects.c.workspace_id == workspace_id,
                    sa.or_(projects.c.id == id_or_name, projects.c.name == id_or_name),
                )
            )
        ).first()
        return _project(row) if row else None

    async def list_projects(self, workspace_id: str) -> list[Project]:
        """The workspace's projects, by name."""
        rows = await self.conn.execute(
            sa.select(projects)
            .where(projects.c.workspace_id == workspace_id)
            .order_by(projects.c.name)
        )
        return [_project(r) for r in rows]

    # -- uploaded files --------------------------------------------------------------------

    async def insert_file(self, file: UploadedFile, token_hash: str) -> None:
        """Store an announced upload (no bytes yet)."""
        await self.conn.execute(
            uploaded_files.insert().values(
                id=file.id,
                workspace_id=file.workspace_id,
                token_hash=token_hash,
                created_by=file.created_by,
                created_at=file.created_at,
            )
        )

    async def file_for_upload(self, file_id: str) -> tuple[UploadedFile, str] | None:
        """An announced file and its upload token hash."""
        row = (
            await self.conn.execute(sa.select(uploaded_files).where(uploaded_files.c.id == file_id))
        ).first()
        return (_file(row), row.token_hash) if row else None

    async def store_file_bytes(
        self, file_id: str, data: bytes, content_type: str | None, now: datetime
    ) -> bool:
        """Keep the uploaded bytes (once: a second PUT changes nothing)."""
        result = await self.conn.execute(
            uploaded_files.update()
            .where(uploaded_files.c.id == file_id, uploaded_files.c.uploaded_at.is_(None))
            .values(data=data, size=len(data), content_type=content_type, uploaded_at=now)
        )
        return bool(result.rowcount == 1)

    async def files_with_bytes(
        self, workspace_id: str, file_ids: Sequence[str]
    ) -> list[tuple[UploadedFile, bytes]]:
        """The workspace's uploaded files with these ids, with their bytes."""
        if not file_ids:
            return []
        rows = await self.conn.execute(
            sa.select(uploaded_files).where(
                uploaded_files.c.workspace_id == workspace_id,
                uploaded_files.c.id.in_(list(file_ids)),
                uploaded_files.c.uploaded_at.is_not(None),
            )
        )
        return [(_file(r), bytes(r.data)) for r in rows]
