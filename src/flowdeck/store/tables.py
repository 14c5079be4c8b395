"""Table definitions (SQLAlchemy Core). Migrations in `migrations/` create exactly these."""

from __future__ import annotations

import sqlalchemy as sa

from flowdeck.store.types import JSONType, UTCDateTime

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

workspaces = sa.Table(
    "workspaces",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("slug", sa.String(100), nullable=False, unique=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
)

api_keys = sa.Table(
    "api_keys",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column(
        "workspace_id",
        sa.String(40),
        sa.ForeignKey("workspaces.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("prefix", sa.String(16), nullable=False),
    sa.Column("key_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("scopes", JSONType, nullable=False),
    sa.Column("instance_admin", sa.Boolean(), nullable=False, default=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("last_used_at", UTCDateTime(), nullable=True),
    sa.Column("revoked_at", UTCDateTime(), nullable=True),
)

workflows = sa.Table(
    "workflows",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column(
        "workspace_id",
        sa.String(40),
        sa.ForeignKey("workspaces.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("slug", sa.String(100), nullable=False),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("description", sa.Text(), nullable=True),
    sa.Column("tags", JSONType, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("trigger_type", sa.String(16), nullable=False),
    sa.Column("visibility", sa.String(16), nullable=False),
    sa.Column("version", sa.Integer(), nullable=False),
    sa.Column("definition", JSONType, nullable=False),
    sa.Column("created_by", sa.String(200), nullable=True),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
    sa.Column("deleted_at", UTCDateTime(), nullable=True),
    sa.UniqueConstraint("workspace_id", "slug"),
    sa.UniqueConstraint("workspace_id", "name"),
    sa.Index("ix_workflows_workspace_status", "workspace_id", "status"),
)

workflow_tags = sa.Table(
    "workflow_tags",
    metadata,
    sa.Column(
        "workflow_id",
        sa.String(40),
        sa.ForeignKey("workflows.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("tag", sa.String(100), primary_key=True),
    sa.Index("ix_workflow_tags_tag", "tag"),
)

workflow_versions = sa.Table(
    "workflow_versions",
    metadata,
    sa.Column(
        "workflow_id",
        sa.String(40),
        sa.ForeignKey("workflows.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("version", sa.Integer(), primary_key=True),
    sa.Column("definition", JSONType, nullable=False),
    sa.Column("change_summary", sa.Text(), nullable=False),
    sa.Column("created_by", sa.String(200), nullable=True),
    sa.Column("created_at", UTCDateTime(), nullable=False),
)
