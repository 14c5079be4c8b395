"""per-day step statistics for analytics, backfilled from finished runs

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_BACKFILL = """
INSERT INTO step_rollups (workflow_id, day, step_id, step_type, runs, attempts, completed,
                          failed, skipped, duration_sum, duration_n, cost, step_runs)
SELECT r.workflow_id, {day}, COALESCE(s.parent_step_id, s.step_id), s.step_type,
       SUM(CASE WHEN s.parent_step_id IS NULL AND s.is_current THEN 1 ELSE 0 END),
       SUM(CASE WHEN s.parent_step_id IS NULL THEN 1 ELSE 0 END),
       SUM(CASE WHEN s.parent_step_id IS NULL AND s.is_current AND s.status = 'completed'
                THEN 1 ELSE 0 END),
       SUM(CASE WHEN s.parent_step_id IS NULL AND s.is_current AND s.status = 'failed'
                THEN 1 ELSE 0 END),
       SUM(CASE WHEN s.parent_step_id IS NULL AND s.is_current AND s.status = 'skipped'
                THEN 1 ELSE 0 END),
       COALESCE(SUM(CASE WHEN s.parent_step_id IS NULL AND s.is_current
                          AND s.status = 'completed' AND s.started_at IS NOT NULL
                          AND s.completed_at IS NOT NULL THEN {seconds} END), 0),
       SUM(CASE WHEN s.parent_step_id IS NULL AND s.is_current AND s.status = 'completed'
                 AND s.started_at IS NOT NULL AND s.completed_at IS NOT NULL
                THEN 1 ELSE 0 END),
       COALESCE(SUM(s.cost), 0),
       COUNT(*)
FROM step_runs s JOIN runs r ON r.id = s.run_id
WHERE r.status IN ('completed', 'failed', 'cancelled')
GROUP BY r.workflow_id, {day}, COALESCE(s.parent_step_id, s.step_id), s.step_type
"""


def upgrade() -> None:
    op.create_table(
        "step_rollups",
        sa.Column("workflow_id", sa.String(length=40), nullable=False),
        sa.Column("day", sa.String(length=10), nullable=False),
        sa.Column("step_id", sa.String(length=200), nullable=False),
        sa.Column("step_type", sa.String(length=64), nullable=False),
        sa.Column("runs", sa.Integer(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("completed", sa.Integer(), nullable=False),
        sa.Column("failed", sa.Integer(), nullable=False),
        sa.Column("skipped", sa.Integer(), nullable=False),
        sa.Column("duration_sum", sa.Float(), nullable=False),
        sa.Column("duration_n", sa.Integer(), nullable=False),
        sa.Column("cost", sa.Float(), nullable=False),
        sa.Column("step_runs", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["workflow_id"],
            ["workflows.id"],
            name=op.f("fk_step_rollups_workflow_id_workflows"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "workflow_id", "day", "step_id", "step_type", name=op.f("pk_step_rollups")
        ),
    )
    with op.batch_alter_table("runs", schema=None) as batch_op:
        batch_op.create_index(
            "ix_runs_workflow_timing",
            ["workflow_id", "created_at", "status", "started_at", "completed_at", "cost"],
            unique=False,
        )
    if op.get_bind().dialect.name == "postgresql":
        day = "to_char(timezone('UTC', r.created_at), 'YYYY-MM-DD')"
        seconds = "EXTRACT(EPOCH FROM s.completed_at - s.started_at)"
    else:
        day = "substr(r.created_at, 1, 10)"
        seconds = "(julianday(s.completed_at) - julianday(s.started_at)) * 86400.0"
    op.execute(_BACKFILL.format(day=day, seconds=seconds))


def downgrade() -> None:
    with op.batch_alter_table("runs", schema=None) as batch_op:
        batch_op.drop_index("ix_runs_workflow_timing")
    op.drop_table("step_rollups")
