"""Queries on workspaces and API keys."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from flowdeck.domain.records import ApiKey, Workspace
from flowdeck.store.queries import Queries
from flowdeck.store.rows import row_of, select_all
from flowdeck.store.tables import api_key_numbers, api_keys, workspaces


def _workspace(row: Any) -> Workspace:
    return Workspace(id=row.id, slug=row.slug, name=row.name, created_at=row.created_at)


def _api_key(row: Any) -> ApiKey:
    return ApiKey(
        id=row.id,
        workspace_id=row.workspace_id,
        name=row.name,
        prefix=row.prefix,
        scopes=tuple(row.scopes),
        instance_admin=bool(row.instance_admin),
        created_at=row.created_at,
        last_used_at=row.last_used_at,
        revoked_at=row.revoked_at,
    )


class WorkspaceQueries(Queries):
    """Workspaces and their API keys."""

    async def insert_workspace(self, ws: Workspace) -> None:
        """Store a new workspace."""
        await self.conn.execute(
            workspaces.insert().values(
                id=ws.id,
                slug=ws.slug,
                name=ws.name,
                created_at=ws.created_at,
                uuid=str(uuid.uuid4()),
            )
        )

    async def get_workspace(self, workspace_id: str) -> Workspace | None:
        """The workspace with this id."""
        row = (
            await self.conn.execute(sa.select(workspaces).where(workspaces.c.id == workspace_id))
        ).first()
        return _workspace(row) if row else None

    async def get_workspace_by_slug(self, slug: str) -> Workspace | None:
        """The workspace with this slug."""
        row = (
            await self.conn.execute(sa.select(workspaces).where(workspaces.c.slug == slug))
        ).first()
        return _workspace(row) if row else None

    async def list_workspaces(self) -> list[Workspace]:
        """Every workspace, oldest first."""
        rows = await self.conn.execute(sa.select(workspaces).order_by(workspaces.c.id))
        return [_workspace(r) for r in rows]

    async def count_api_keys(self) -> int:
        """How many keys exist on the whole instance."""
        return int(
            (await self.conn.execute(sa.select(sa.func.count()).select_from(api_keys))).scalar_one()
        )

    async def insert_api_key(self, key: ApiKey, key_hash: str) -> None:
        """Store a key's metadata and the hash of its secret."""
        await self.conn.execute(
            api_keys.insert().values(
                id=key.id,
                workspace_id=key.workspace_id,
                name=key.name,
                prefix=key.prefix,
                key_hash=key_hash,
                scopes=list(key.scopes),
                instance_admin=key.instance_admin,
                created_at=key.created_at,
            )
        )
        await self.conn.execute(api_key_numbers.insert().values(key_id=key.id))

    async def get_api_key_by_hash(self, key_hash: str) -> ApiKey | None:
        """The live (not revoked) key whose secret hashes to `key_hash` (every request asks)."""
        db = await self.db()
        sql = f"{select_all(api_keys)} WHERE key_hash = :hash AND revoked_at IS NULL"
        rows = await db.rows(sql, {"hash": key_hash})
        return _api_key(row_of(db, api_keys, rows[0])) if rows else None

    async def touch_api_key(self, key_id: str, now: datetime) -> None:
        """Record that the key was used."""
        await self.conn.execute(
            api_keys.update().where(api_keys.c.id == key_id).values(last_used_at=now)
        )

    async def list_api_keys(self, workspace_id: str) -> list[ApiKey]:
        """The workspace's keys, newest first, revoked ones included."""
        rows = await self.conn.execute(
            sa.select(api_keys)
            .where(api_keys.c.workspace_id == workspace_id)
            .order_by(api_keys.c.id.desc())
        )
        return [_api_key(r) for r in rows]

    async def revoke_api_key(self, workspace_id: str, key_id: str, now: datetime) -> bool:
        """Revoke a live key; False when there is none with that id in the workspace."""
        result = await self.conn.execute(
            api_keys.update()
            .where(
                api_keys.c.id == key_id,
                api_keys.c.workspace_id == workspace_id,
                api_keys.c.revoked_at.is_(None),
            )
            .values(revoked_at=now)
        )
        return result.rowcount == 1
