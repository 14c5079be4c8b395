"""The readiness probe's write: one that changes nothing, yet shows the database takes writes."""

from __future__ import annotations

import sqlalchemy as sa

from flowdeck.store.queries import Queries
from flowdeck.store.tables import workspaces


class ProbeQueries(Queries):
    """`GET /readyz`'s write."""

    async def probe_write(self) -> None:
        """Write something that changes nothing; the commit fails where any write would."""
        if self.dialect == "sqlite":
            # SQLite touches the disk only when it commits a changed page: a rolled-back or
            # zero-row write succeeds on a full disk. Rewriting the header's user_version (unused
            # by Flowdeck) with its own value commits one page to the WAL, as any write would.
            version = (await self.conn.execute(sa.text("PRAGMA user_version"))).scalar_one()
            await self.conn.execute(sa.text(f"PRAGMA user_version = {int(version)}"))
            return
        # PostgreSQL refuses any data-changing statement in a read-only session (a standby, or
        # default_transaction_read_only) when it starts, before it looks at a row.
        await self.conn.execute(workspaces.update().where(sa.false()).values(id=workspaces.c.id))
