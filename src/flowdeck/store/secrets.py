"""Queries on encrypted secrets."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from flowdeck.store.queries import Queries
from flowdeck.store.tables import secrets


class SecretQueries(Queries):
    """Secret names and ciphertexts; plaintext never reaches the database."""

    async def put_secret(
        self, workspace_id: str, name: str, ciphertext: str, now: datetime
    ) -> bool:
        """Create or replace a secret; True when it was created."""
        updated = await self.conn.execute(
            secrets.update()
            .where(secrets.c.workspace_id == workspace_id, secrets.c.name == name)
            .values(ciphertext=ciphertext, updated_at=now)
        )
        if updated.rowcount == 1:
            return False
        await self.conn.execute(
            secrets.insert().values(
                workspace_id=workspace_id,
                name=name,
                ciphertext=ciphertext,
                created_at=now,
                updated_at=now,
            )
        )
        return True

    async def list_secret_names(self, workspace_id: str) -> list[tuple[str, datetime, datetime]]:
        """(name, created_at, updated_at) of the workspace's secrets, by name."""
        rows = await self.conn.execute(
            sa.select(secrets.c.name, secrets.c.created_at, secrets.c.updated_at)
            .where(secrets.c.workspace_id == workspace_id)
            .order_by(secrets.c.name)
        )
        return [(r.name, r.created_at, r.updated_at) for r in rows]

    async def secret_ciphertexts(self, workspace_id: str) -> dict[str, str]:
        """Name → ciphertext for every secret of the workspace."""
        rows = await self.conn.execute(
            sa.select(secrets.c.name, secrets.c.ciphertext).where(
                secrets.c.workspace_id == workspace_id
            )
        )
        return {r.name: r.ciphertext for r in rows}

    async def delete_secret(self, workspace_id: str, name: str) -> bool:
        """Delete a secret; False when there was none."""
        result = await self.conn.execute(
            secrets.delete().where(secrets.c.workspace_id == workspace_id, secrets.c.name == name)
        )
        return result.rowcount == 1
