"""what the seed-compatible APIs need: workspace UUIDs, key integer ids, workflow integer ids
and UUIDs (with the owning key and the seed fields stored as given), projects and a workflow's
project, per-workflow run numbers and uploaded files

Revision ID: 0008
Revises: 0007

Existing workspaces get a UUID; existing keys an integer (seed 003's member ids); existing
workflows an integer id in creation order and a UUID; existing runs are numbered per workflow,
oldest first, and each workflow's count of numbered runs is set so new runs continue from there.
"""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    with op.batch_alter_table("workspaces", schema=None, recreate="never") as batch_op:
        batch_op.add_column(sa.Column("uuid", sa.String(length=36), nullable=True))
        batch_op.create_index("ix_workspaces_uuid", ["uuid"], unique=True)
    with op.batch_alter_table("workflows", schema=None, recreate="never") as batch_op:
        batch_op.add_column(sa.Column("project_id", sa.String(length=40), nullable=True))
        batch_op.create_index("ix_workflows_project_id", ["project_id"], unique=False)
    _create_tables()
    _backfill()


def _create_tables() -> None:
    op.create_table(
        "projects",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("workspace_id", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_projects_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_projects")),
        sa.UniqueConstraint("workspace_id", "name", name=op.f("uq_projects_workspace_id_name")),
    )
    op.create_table(
        "workflow_refs",
        sa.Column("number", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("workflow_id", sa.String(length=40), nullable=False),
        sa.Column("uuid", sa.String(length=36), nullable=False),
        sa.Column("owner_key_id", sa.String(length=40), nullable=True),
        sa.Column("run_count", sa.Integer(), server_default="0", nullable=False),
        sa.Column("extras", JSON, nullable=False),
        sa.ForeignKeyConstraint(
            ["workflow_id"],
            ["workflows.id"],
            name=op.f("fk_workflow_refs_workflow_id_workflows"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("number", name=op.f("pk_workflow_refs")),
        sa.UniqueConstraint("uuid", name=op.f("uq_workflow_refs_uuid")),
        sa.UniqueConstraint("workflow_id", name=op.f("uq_workflow_refs_workflow_id")),
        sqlite_autoincrement=True,
    )
    op.create_table(
        "api_key_numbers",
        sa.Column("number", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("key_id", sa.String(length=40), nullable=False),
        sa.ForeignKeyConstraint(
            ["key_id"],
            ["api_keys.id"],
            name=op.f("fk_api_key_numbers_key_id_api_keys"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("number", name=op.f("pk_api_key_numbers")),
        sa.UniqueConstraint("key_id", name=op.f("uq_api_key_numbers_key_id")),
        sqlite_autoincrement=True,
    )
    op.create_table(
        "run_numbers",
        sa.Column("run_id", sa.String(length=40), nullable=False),
        sa.Column("workflow_id", sa.String(length=40), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["runs.id"],
            name=op.f("fk_run_numbers_run_id_runs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("run_id", name=op.f("pk_run_numbers")),
        sa.UniqueConstraint(
            "workflow_id", "number", name=op.f("uq_run_numbers_workflow_id_number")
        ),
    )
    op.create_table(
        "uploaded_files",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("workspace_id", sa.String(length=40), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("content_type", sa.String(length=200), nullable=True),
        sa.Column("size", sa.Integer(), nullable=True),
        sa.Column("data", sa.LargeBinary(), nullable=True),
        sa.Column("created_by", sa.String(length=200), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("uploaded_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_uploaded_files_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_uploaded_files")),
    )
    with op.batch_alter_table("uploaded_files", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_uploaded_files_workspace_id"), ["workspace_id"], unique=False
        )


def _backfill() -> None:
    conn = op.get_bind()
    for (ws_id,) in conn.execute(sa.text("SELECT id FROM workspaces WHERE uuid IS NULL")):
        conn.execute(
            sa.text("UPDATE workspaces SET uuid = :u WHERE id = :i"),
            {"u": str(uuid.uuid4()), "i": ws_id},
        )
    refs = sa.table(
        "workflow_refs",
        sa.column("workflow_id", sa.String()),
        sa.column("uuid", sa.String()),
        sa.column("extras", JSON),
    )
    keys = conn.execute(sa.text("SELECT id FROM api_keys ORDER BY created_at, id")).all()
    for (key_id,) in keys:
        conn.execute(sa.text("INSERT INTO api_key_numbers (key_id) VALUES (:k)"), {"k": key_id})
    rows = conn.execute(sa.text("SELECT id FROM workflows ORDER BY created_at, id")).all()
    for (wf_id,) in rows:  # one at a time: the integer ids follow creation order
        conn.execute(refs.insert().values(workflow_id=wf_id, uuid=str(uuid.uuid4()), extras={}))
    conn.execute(
        sa.text(
            "INSERT INTO run_numbers (run_id, workflow_id, number) SELECT id, workflow_id, "
            "ROW_NUMBER() OVER (PARTITION BY workflow_id ORDER BY created_at, id) FROM runs"
        )
    )
    conn.execute(
        sa.text(
            "UPDATE workflow_refs SET run_count = (SELECT COUNT(*) FROM runs "
            "WHERE runs.workflow_id = workflow_refs.workflow_id)"
        )
    )


def downgrade() -> None:
    with op.batch_alter_table("uploaded_files", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_uploaded_files_workspace_id"))
    op.drop_table("uploaded_files")
    op.drop_table("run_numbers")
    op.drop_table("api_key_numbers")
    op.drop_table("workflow_refs")
    op.drop_table("projects")
    # In place, never by copying the table (that would cascade on SQLite).
    with op.batch_alter_table("workflows", schema=None, recreate="never") as batch_op:
        batch_op.drop_index("ix_workflows_project_id")
        batch_op.drop_column("project_id")
    with op.batch_alter_table("workspaces", schema=None, recreate="never") as batch_op:
        batch_op.drop_index("ix_workspaces_uuid")
        batch_op.drop_column("uuid")
