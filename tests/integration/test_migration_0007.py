"""Migration 0007: workflows that already had a webhook secret keep the legacy signature scheme;
the others (and new ones) accept Standard Webhooks only. Downgrading and upgrading again works."""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import command

from flowdeck.store.dialect import create_sync_engine
from flowdeck.store.migrate import alembic_config, upgrade


def _migrate(url: str, revision: str, *, down: bool = False) -> None:
    if not down:
        upgrade(url, revision)
        return
    engine = create_sync_engine(url)
    try:
        with engine.begin() as connection:
            cfg = alembic_config(url)
            cfg.attributes["connection"] = connection
            command.downgrade(cfg, revision)
    finally:
        engine.dispose()


def test_existing_webhook_workflows_keep_the_legacy_scheme(database_url: str) -> None:
    _migrate(database_url, "0006", down=True)
    now = datetime.now(UTC).isoformat()
    engine = create_sync_engine(database_url)
    try:
        with engine.begin() as conn:
            conn.execute(
                sa.text(
                    "INSERT INTO workspaces (id, slug, name, created_at) VALUES (:i, :s, :n, :t)"
                ),
                {"i": "ws_m", "s": "m", "n": "M", "t": now},
            )
            for wf_id, trigger, secret in (
                ("wf_hooked", "webhook", "ciphertext"),
                ("wf_unsigned", "webhook", None),
                ("wf_manual", "manual", "ciphertext"),
            ):
                conn.execute(
                    sa.text(
                        "INSERT INTO workflows (id, workspace_id, slug, name, tags, status, "
                        "trigger_type, visibility, version, definition, created_at, updated_at, "
                        "webhook_secret) VALUES (:id, 'ws_m', :id, :id, '[]', 'active', :tr, "
                        "'private', 1, '{}', :t, :t, :sec)"
                    ),
                    {"id": wf_id, "tr": trigger, "t": now, "sec": secret},
                )
        _migrate(database_url, "head")
        with engine.connect() as conn:
            rows = conn.execute(
                sa.text("SELECT id, legacy_webhook_signature FROM workflows ORDER BY id")
            )
            flags = {row[0]: bool(row[1]) for row in rows}
            assert flags == {"wf_hooked": True, "wf_manual": False, "wf_unsigned": False}
            assert conn.execute(sa.text("SELECT COUNT(*) FROM webhook_replays")).scalar() == 0
        # Down again keeps every workflow (SQLite must not rebuild the table: that would
        # cascade to its runs), and up again restores the schema.
        _migrate(database_url, "0006", down=True)
        with engine.connect() as conn:
            assert conn.execute(sa.text("SELECT COUNT(*) FROM workflows")).scalar() == 3
        _migrate(database_url, "head")
    finally:
        engine.dispose()
