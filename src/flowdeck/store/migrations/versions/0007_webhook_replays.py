"""inbound webhook replay records, the per-workflow opt-in to the legacy signature, and an
index on workflow slugs (hooks name a workflow by slug without its workspace)

Revision ID: 0007
Revises: 0006

Workflows that already had a webhook secret could only have been called with the legacy
`X-Flowdeck-Signature` scheme, so they keep accepting it (`legacy_webhook_signature` true);
every other workflow, and every new one, accepts only Standard Webhooks signatures (and
workflow tokens). The secrets themselves are not rewritten: they are encrypted with the
instance key, and their key bytes are already what Standard Webhooks expects (the API now
shows them in standard base64).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("workflows", schema=None, recreate="never") as batch_op:
        batch_op.add_column(
            sa.Column(
                "legacy_webhook_signature",
                sa.Boolean(),
                nullable=False,
                server_default=sa.false(),
            )
        )
        batch_op.create_index("ix_workflows_slug", ["slug"], unique=False)
    workflows = sa.table(
        "workflows",
        sa.column("trigger_type", sa.String()),
        sa.column("webhook_secret", sa.Text()),
        sa.column("legacy_webhook_signature", sa.Boolean()),
    )
    op.execute(
        workflows.update()
        .where(workflows.c.trigger_type == "webhook", workflows.c.webhook_secret.is_not(None))
        .values(legacy_webhook_signature=sa.true())
    )
    op.create_table(
        "webhook_replays",
        sa.Column("workflow_id", sa.String(length=40), nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("run_id", sa.String(length=40), nullable=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["workflow_id"],
            ["workflows.id"],
            name=op.f("fk_webhook_replays_workflow_id_workflows"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("workflow_id", "key", name=op.f("pk_webhook_replays")),
    )
    with op.batch_alter_table("webhook_replays", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_webhook_replays_expires_at"), ["expires_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("webhook_replays", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_webhook_replays_expires_at"))
    op.drop_table("webhook_replays")
    # Never by copying the table: on SQLite, dropping `workflows` to rebuild it would cascade
    # to its runs (foreign keys are on). SQLite ≥ 3.35 drops a plain column in place.
    with op.batch_alter_table("workflows", schema=None, recreate="never") as batch_op:
        batch_op.drop_index("ix_workflows_slug")
        batch_op.drop_column("legacy_webhook_signature")
