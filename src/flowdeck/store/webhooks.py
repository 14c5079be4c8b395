"""Inbound webhooks: the workflows a hook path may name, and the deliveries already accepted."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from flowdeck.domain.records import Workflow
from flowdeck.store.dialect import try_claim, upsert
from flowdeck.store.queries import Queries
from flowdeck.store.tables import webhook_replays, workflows
from flowdeck.store.workflows import workflow_from_row

_H = webhook_replays.c
_W = workflows.c
# Names the replay purge's advisory lock (any constant the other jobs do not use).
_PURGE_LOCK = 0x666C6F7764656B01


class WebhookQueries(Queries):
    """Hook targets and replay records."""

    async def hook_workflows(self, id_or_slug: str, limit: int) -> list[Workflow]:
        """The live workflow with this id, else those with this slug in any workspace (a hook
        path names no workspace; the signature tells which one is meant)."""
        live = _W.deleted_at.is_(None)
        if id_or_slug.startswith("wf_"):
            row = await self.conn.execute(sa.select(workflows).where(_W.id == id_or_slug, live))
            found = row.first()
            if found is not None:
                return [workflow_from_row(found)]
        rows = await self.conn.execute(
            sa.select(workflows).where(_W.slug == id_or_slug, live).order_by(_W.id).limit(limit)
        )
        return [workflow_from_row(r) for r in rows]

    async def record_webhook_delivery(
        self,
        workflow_id: str,
        key: str,
        *,
        run_id: str,
        received_at: datetime,
        expires_at: datetime,
    ) -> bool:
        """Remember a delivery; False when an unexpired record of it exists.

        One statement: on PostgreSQL a concurrent insert of the same key waits for the other
        transaction and then sees its row, so of two identical deliveries exactly one records
        (and starts its run). An expired record that the purge has not removed yet is taken over.
        """
        stmt = upsert(self.dialect, webhook_replays).values(
            workflow_id=workflow_id,
            key=key,
            run_id=run_id,
            received_at=received_at,
            expires_at=expires_at,
        )
        stmt = stmt.on_conflict_do_update(
            index_elements=["workflow_id", "key"],
            set_={
                "run_id": stmt.excluded.run_id,
                "received_at": stmt.excluded.received_at,
                "expires_at": stmt.excluded.expires_at,
            },
            where=_H.expires_at <= received_at,
        )
        # RETURNING, not rowcount: psycopg reports no count for INSERT … ON CONFLICT here.
        result = await self.conn.execute(stmt.returning(_H.key))
        return result.first() is not None

    async def webhook_delivery_run(self, workflow_id: str, key: str) -> str | None:
        """The run a recorded delivery started."""
        row = (
            await self.conn.execute(
                sa.select(_H.run_id).where(_H.workflow_id == workflow_id, _H.key == key)
            )
        ).first()
        return str(row[0]) if row is not None and row[0] is not None else None

    async def purge_webhook_deliveries(self, now: datetime, limit: int) -> int:
        """Delete up to `limit` expired delivery records; returns how many went (0 when another
        server holds the purge: it runs on one server at a time)."""
        claim = try_claim(self.dialect, _PURGE_LOCK)
        if claim is not None and not (await self.conn.execute(claim)).scalar():
            return 0
        expired = (
            sa.select(_H.workflow_id, _H.key)
            .where(_H.expires_at <= now)
            .order_by(_H.expires_at)
            .limit(limit)
        )
        result = await self.conn.execute(
            webhook_replays.delete().where(
                sa.tuple_(_H.workflow_id, _H.key).in_(expired), _H.expires_at <= now
            )
        )
        return int(result.rowcount)
