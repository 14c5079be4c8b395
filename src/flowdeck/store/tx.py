"""A transaction: every query mixin on one connection."""

from __future__ import annotations

from flowdeck.store.workflows import WorkflowQueries
from flowdeck.store.workspaces import WorkspaceQueries


class Tx(WorkspaceQueries, WorkflowQueries):
    """All queries Flowdeck runs, bound to one open transaction."""
