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
    # Seed 003 names a workspace by UUID (stable; given at creation, backfilled by 0008).
    sa.Column("uuid", sa.String(36), nullable=True),
    sa.Index("ix_workspaces_uuid", "uuid", unique=True),
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
    sa.Column("pre_archive_status", sa.String(16), nullable=True),
    sa.Column("source_workflow_id", sa.String(40), nullable=True),
    sa.Column("source_kind", sa.String(16), nullable=True),
    sa.Column("webhook_secret", sa.Text(), nullable=True),
    # Accept the timestamp-less X-Flowdeck-Signature on inbound hooks (SPEC §5; opt-in).
    sa.Column("legacy_webhook_signature", sa.Boolean(), nullable=False, server_default=sa.false()),
    # The project (seed 004) the workflow belongs to, if any.
    sa.Column("project_id", sa.String(40), nullable=True),
    sa.UniqueConstraint("workspace_id", "slug"),
    sa.UniqueConstraint("workspace_id", "name"),
    sa.Index("ix_workflows_workspace_status", "workspace_id", "status"),
    # Inbound hooks name a workflow by slug without its workspace.
    sa.Index("ix_workflows_slug", "slug"),
    sa.Index("ix_workflows_project_id", "project_id"),
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

runs = sa.Table(
    "runs",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("workspace_id", sa.String(40), nullable=False),
    sa.Column(
        "workflow_id",
        sa.String(40),
        sa.ForeignKey("workflows.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("workflow_version", sa.Integer(), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("trigger", sa.String(32), nullable=False),
    sa.Column("input_data", JSONType, nullable=False),
    sa.Column("output", JSONType, nullable=True),
    sa.Column("error", sa.Text(), nullable=True),
    sa.Column("cost", sa.Float(), nullable=False, default=0.0),
    sa.Column("idempotency_key", sa.String(200), nullable=True),
    sa.Column("max_concurrency", sa.Integer(), nullable=True),
    sa.Column("parent_run_id", sa.String(40), nullable=True),
    sa.Column("parent_step_run_id", sa.String(40), nullable=True),
    sa.Column("event_seq", sa.Integer(), nullable=False, default=0),
    sa.Column("steps_remaining", sa.Integer(), nullable=False, default=0),
    sa.Column("steps_failed", sa.Integer(), nullable=False, default=0),
    sa.Column("created_by", sa.String(200), nullable=True),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("started_at", UTCDateTime(), nullable=True),
    sa.Column("completed_at", UTCDateTime(), nullable=True),
    sa.UniqueConstraint("workflow_id", "idempotency_key"),
    sa.Index("ix_runs_status_id", "status", "id"),
    sa.Index("ix_runs_workflow_id_id", "workflow_id", "id"),
    sa.Index("ix_runs_workspace_id_status", "workspace_id", "status"),
    sa.Index("ix_runs_parent_run_id", "parent_run_id"),
    sa.Index("ix_runs_workflow_id_created_at", "workflow_id", "created_at"),
    # Covers the analytics scans (counts per period, duration percentiles) without table reads.
    sa.Index(
        "ix_runs_workflow_timing",
        "workflow_id",
        "created_at",
        "status",
        "started_at",
        "completed_at",
        "cost",
    ),
)

step_runs = sa.Table(
    "step_runs",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column(
        "run_id", sa.String(40), sa.ForeignKey("runs.id", ondelete="CASCADE"), nullable=False
    ),
    sa.Column("step_id", sa.String(200), nullable=False),
    sa.Column("parent_step_id", sa.String(200), nullable=True),
    sa.Column("item_index", sa.Integer(), nullable=True),
    sa.Column("step_type", sa.String(64), nullable=False),
    sa.Column("attempt", sa.Integer(), nullable=False),
    sa.Column("is_current", sa.Boolean(), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("output", JSONType, nullable=True),
    sa.Column("error", sa.Text(), nullable=True),
    sa.Column("state", JSONType, nullable=True),
    sa.Column("cost", sa.Float(), nullable=False, default=0.0),
    sa.Column("deps_remaining", sa.Integer(), nullable=False, default=0),
    sa.Column("n_completed", sa.Integer(), nullable=False, default=0),
    sa.Column("n_failed", sa.Integer(), nullable=False, default=0),
    sa.Column("n_skipped", sa.Integer(), nullable=False, default=0),
    sa.Column("available_at", UTCDateTime(), nullable=True),
    sa.Column("wake_at", UTCDateTime(), nullable=True),
    sa.Column("lease_owner", sa.String(64), nullable=True),
    sa.Column("lease_expires_at", UTCDateTime(), nullable=True),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("started_at", UTCDateTime(), nullable=True),
    sa.Column("completed_at", UTCDateTime(), nullable=True),
    sa.Index("ix_step_runs_run_id_step_id", "run_id", "step_id"),
    sa.Index(
        "uq_step_runs_current",
        "run_id",
        "step_id",
        unique=True,
        postgresql_where=sa.text("is_current"),
        sqlite_where=sa.text("is_current = 1"),
    ),
    sa.Index(
        "ix_step_runs_ready",
        "available_at",
        postgresql_where=sa.text("status = 'ready'"),
        sqlite_where=sa.text("status = 'ready'"),
    ),
    sa.Index(
        "ix_step_runs_running",
        "lease_expires_at",
        postgresql_where=sa.text("status = 'running'"),
        sqlite_where=sa.text("status = 'running'"),
    ),
    sa.Index(
        "ix_step_runs_waiting",
        "wake_at",
        postgresql_where=sa.text("status = 'waiting'"),
        sqlite_where=sa.text("status = 'waiting'"),
    ),
)

run_events = sa.Table(
    "run_events",
    metadata,
    sa.Column(
        "run_id", sa.String(40), sa.ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True
    ),
    sa.Column("seq", sa.Integer(), primary_key=True),
    sa.Column("type", sa.String(32), nullable=False),
    sa.Column("data", JSONType, nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
)

secrets = sa.Table(
    "secrets",
    metadata,
    sa.Column(
        "workspace_id",
        sa.String(40),
        sa.ForeignKey("workspaces.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("name", sa.String(100), primary_key=True),
    sa.Column("ciphertext", sa.Text(), nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
)

schedules = sa.Table(
    "schedules",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("workspace_id", sa.String(40), nullable=False),
    sa.Column(
        "workflow_id",
        sa.String(40),
        sa.ForeignKey("workflows.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    sa.Column("cron_expression", sa.String(200), nullable=False),
    sa.Column("timezone", sa.String(64), nullable=False),
    sa.Column("input_data", JSONType, nullable=False),
    sa.Column("enabled", sa.Boolean(), nullable=False),
    sa.Column("next_run_at", UTCDateTime(), nullable=True),
    sa.Column("last_run_at", UTCDateTime(), nullable=True),
    sa.Column("last_run_id", sa.String(40), nullable=True),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
    sa.Index("ix_schedules_due", "enabled", "next_run_at"),
)

templates = sa.Table(
    "templates",
    metadata,
    sa.Column("id", sa.String(60), primary_key=True),
    sa.Column(
        "workspace_id",
        sa.String(40),
        sa.ForeignKey("workspaces.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("category", sa.String(64), nullable=False),
    sa.Column("description", sa.Text(), nullable=True),
    sa.Column("definition", JSONType, nullable=False),
    sa.Column("source_workflow_id", sa.String(40), nullable=True),
    sa.Column("created_by", sa.String(200), nullable=True),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.UniqueConstraint("workspace_id", "name"),
)

agents = sa.Table(
    "agents",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column(
        "workspace_id",
        sa.String(40),
        sa.ForeignKey("workspaces.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("model", sa.String(200), nullable=False),
    sa.Column("instructions", sa.Text(), nullable=False),
    sa.Column("base_url", sa.String(500), nullable=True),
    # SecretBox ciphertext of a per-agent provider key; never returned by the API.
    sa.Column("api_key", sa.Text(), nullable=True),
    sa.Column("temperature", sa.Float(), nullable=True),
    sa.Column("max_tokens", sa.Integer(), nullable=True),
    sa.Column("price_per_1k_input", sa.Float(), nullable=False),
    sa.Column("price_per_1k_output", sa.Float(), nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
    sa.UniqueConstraint("workspace_id", "name"),
)

# Per-day step statistics of finished runs, so analytics never scans every step run. A run adds
# its step runs here when it ends (completed, failed, cancelled) and takes them back when it is
# resumed or deleted; `rebuild_step_rollups` recomputes a workflow's rows from scratch.
step_rollups = sa.Table(
    "step_rollups",
    metadata,
    sa.Column(
        "workflow_id",
        sa.String(40),
        sa.ForeignKey("workflows.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("day", sa.String(10), primary_key=True),
    sa.Column("step_id", sa.String(200), primary_key=True),
    sa.Column("step_type", sa.String(64), primary_key=True),
    sa.Column("runs", sa.Integer(), nullable=False),
    sa.Column("attempts", sa.Integer(), nullable=False),
    sa.Column("completed", sa.Integer(), nullable=False),
    sa.Column("failed", sa.Integer(), nullable=False),
    sa.Column("skipped", sa.Integer(), nullable=False),
    sa.Column("duration_sum", sa.Float(), nullable=False),
    sa.Column("duration_n", sa.Integer(), nullable=False),
    sa.Column("cost", sa.Float(), nullable=False),
    sa.Column("step_runs", sa.Integer(), nullable=False),
)

# Finished runs counted per workflow and status, so instance metrics never count every run. A run
# adds itself when it ends and takes itself back when it is resumed or deleted (with the step
# rollups above); the rows go with their workflow.
run_totals = sa.Table(
    "run_totals",
    metadata,
    sa.Column(
        "workflow_id",
        sa.String(40),
        sa.ForeignKey("workflows.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("status", sa.String(16), primary_key=True),
    sa.Column("runs", sa.Integer(), nullable=False),
)

# Worker processes: registered at start, refreshed by their heartbeat, marked when they stop.
workers = sa.Table(
    "workers",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("hostname", sa.String(255), nullable=False),
    sa.Column("pid", sa.Integer(), nullable=False),
    sa.Column("started_at", UTCDateTime(), nullable=False),
    sa.Column("heartbeat_at", UTCDateTime(), nullable=False),
    sa.Column("stopped_at", UTCDateTime(), nullable=True),
    sa.Column("inflight", sa.Integer(), nullable=False),
    sa.Column("capacity", sa.Integer(), nullable=False),
)

# Inbound webhook deliveries already accepted, so a replayed one is refused: one row per workflow
# and delivery (a hash of the Standard Webhooks id, or of the legacy signature), written in the
# transaction that starts the run. The primary key makes "exactly once" hold across servers.
webhook_replays = sa.Table(
    "webhook_replays",
    metadata,
    sa.Column(
        "workflow_id",
        sa.String(40),
        sa.ForeignKey("workflows.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("key", sa.String(64), primary_key=True),
    sa.Column("run_id", sa.String(40), nullable=True),
    sa.Column("received_at", UTCDateTime(), nullable=False),
    sa.Column("expires_at", UTCDateTime(), nullable=False, index=True),
)

# Projects (seed 004): named groups of workflows inside a workspace.
projects = sa.Table(
    "projects",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column(
        "workspace_id",
        sa.String(40),
        sa.ForeignKey("workspaces.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("description", sa.Text(), nullable=True),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.UniqueConstraint("workspace_id", "name"),
)

# What the seed-compatible APIs know of a workflow besides Flowdeck's own record: its integer id
# (`number`, never reused) and UUID (seed 003), the key that owns it, how many runs
# it has numbered, and the seed fields Flowdeck stores and returns as given (`extras`).
workflow_refs = sa.Table(
    "workflow_refs",
    metadata,
    sa.Column("number", sa.Integer(), primary_key=True, autoincrement=True),
    sa.Column(
        "workflow_id",
        sa.String(40),
        sa.ForeignKey("workflows.id", ondelete="CASCADE"),
        nullable=False,
        unique=True,
    ),
    sa.Column("uuid", sa.String(36), nullable=False, unique=True),
    sa.Column("owner_key_id", sa.String(40), nullable=True),
    sa.Column("run_count", sa.Integer(), nullable=False, server_default="0"),
    sa.Column("extras", JSONType, nullable=False),
    sqlite_autoincrement=True,
)

# Keys as seed 003's integer member ids (`ownerId`), never reused.
api_key_numbers = sa.Table(
    "api_key_numbers",
    metadata,
    sa.Column("number", sa.Integer(), primary_key=True, autoincrement=True),
    sa.Column(
        "key_id",
        sa.String(40),
        sa.ForeignKey("api_keys.id", ondelete="CASCADE"),
        nullable=False,
        unique=True,
    ),
    sqlite_autoincrement=True,
)

# Per-workflow run numbers (seed 002's `#12`), handed out oldest run first.
run_numbers = sa.Table(
    "run_numbers",
    metadata,
    sa.Column(
        "run_id", sa.String(40), sa.ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True
    ),
    sa.Column("workflow_id", sa.String(40), nullable=False),
    sa.Column("number", sa.Integer(), nullable=False),
    sa.UniqueConstraint("workflow_id", "number"),
)

# Files uploaded through seed 002's upload URL: the bytes live in the database (every server
# sees them), capped in size, scoped to the workspace; `token_hash` authorises the one PUT.
uploaded_files = sa.Table(
    "uploaded_files",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column(
        "workspace_id",
        sa.String(40),
        sa.ForeignKey("workspaces.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    sa.Column("token_hash", sa.String(64), nullable=False),
    sa.Column("content_type", sa.String(200), nullable=True),
    sa.Column("size", sa.Integer(), nullable=True),
    sa.Column("data", sa.LargeBinary(), nullable=True),
    sa.Column("created_by", sa.String(200), nullable=True),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("uploaded_at", UTCDateTime(), nullable=True),
)
