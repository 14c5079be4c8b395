"""Migration 0008: existing workspaces get a UUID, keys an integer, workflows an integer id (in
creation order) and a UUID, existing runs a number per workflow (oldest first), and new runs
continue the count. Downgrading and upgrading again works."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from alembic import command

from flowdeck.store.dialect import create_sync_engine
from flowdeck.store.migrate import alembic_config, upgrade


def _down(url: str, revision: str) -> None:
    engine = create_sync_engine(url)
    try:
        with engine.begin() as connection:
            cfg = alembic_config(url)
            cfg.attributes["connection"] = connection
            command.downgrade(cfg, revision)
    finally:
        engine.dispose()


def _seed_rows(conn: sa.Connection) -> None:
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    conn.execute(
        sa.text(
            "INSERT INTO workspaces (id, slug, name, created_at) VALUES ('ws_m', 'm', 'M', :t)"
        ),
        {"t": t0.isoformat()},
    )
    for i, key_id in enumerate(("key_b", "key_a")):
        conn.execute(
            sa.text(
                "INSERT INTO api_keys (id, workspace_id, name, prefix, key_hash, scopes, "
                "instance_admin, created_at) VALUES (:id, 'ws_m', :id, 'fdk_', :id, '[]', "
                "false, :t)"
            ),
            {"id": key_id, "t": (t0 + timedelta(minutes=i)).isoformat()},
        )
    for i, wf_id in enumerate(("wf_b", "wf_a")):  # wf_b was created first
        conn.execute(
            sa.text(
                "INSERT INTO workflows (id, workspace_id, slug, name, tags, status, "
                "trigger_type, visibility, version, definition, created_at, updated_at) "
                "VALUES (:id, 'ws_m', :id, :id, '[]', 'active', 'manual', 'private', 1, '{}', "
                ":t, :t)"
            ),
            {"id": wf_id, "t": (t0 + timedelta(minutes=i)).isoformat()},
        )
    for i, run_id in enumerate(("run_3", "run_1", "run_2")):
        conn.execute(
            sa.text(
                "INSERT INTO runs (id, workspace_id, workflow_id, workflow_version, status, "
                "trigger, input_data, cost, event_seq, steps_remaining, steps_failed, "
                "created_at) VALUES (:id, 'ws_m', 'wf_a', 1, 'completed', 'manual', '{}', 0, 0, "
                "0, 0, :t)"
            ),
            {"id": run_id, "t": (t0 + timedelta(hours=i)).isoformat()},
        )


def test_existing_rows_get_seed_identities(database_url: str) -> None:
    _down(database_url, "0007")
    engine = create_sync_engine(database_url)
    try:
        with engine.begin() as conn:
            _seed_rows(conn)
        upgrade(database_url, "head")
        with engine.connect() as conn:
            uuid = conn.execute(sa.text("SELECT uuid FROM workspaces WHERE id = 'ws_m'")).scalar()
            assert uuid is not None and len(uuid) == 36
            refs = conn.execute(
                sa.text(
                    "SELECT workflow_id, number, uuid, run_count FROM workflow_refs ORDER BY number"
                )
            ).all()
            assert [(r[0], r[3]) for r in refs] == [("wf_b", 0), ("wf_a", 3)]
            assert refs[0][1] < refs[1][1] and len({r[2] for r in refs}) == 2
            keys = conn.execute(sa.text("SELECT key_id FROM api_key_numbers ORDER BY number")).all()
            assert [k[0] for k in keys] == ["key_b", "key_a"]
            numbers = conn.execute(
                sa.text("SELECT run_id, number FROM run_numbers ORDER BY number")
            ).all()
            assert [tuple(r) for r in numbers] == [("run_3", 1), ("run_1", 2), ("run_2", 3)]
        _down(database_url, "0007")
        with engine.connect() as conn:
            assert conn.execute(sa.text("SELECT COUNT(*) FROM runs")).scalar() == 3
            assert conn.execute(sa.text("SELECT COUNT(*) FROM workflows")).scalar() == 2
        upgrade(database_url, "head")
    finally:
        engine.dispose()
