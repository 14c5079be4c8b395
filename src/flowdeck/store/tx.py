"""A transaction: every query mixin on one connection."""

from __future__ import annotations

from flowdeck.store.agents import AgentQueries
from flowdeck.store.analytics import AnalyticsQueries
from flowdeck.store.cluster import ClusterQueries
from flowdeck.store.compat import CompatQueries
from flowdeck.store.leases import LeaseQueries
from flowdeck.store.probe import ProbeQueries
from flowdeck.store.retention import RetentionQueries
from flowdeck.store.rollups import RollupQueries
from flowdeck.store.runs import RunQueries
from flowdeck.store.schedules import ScheduleQueries
from flowdeck.store.secrets import SecretQueries
from flowdeck.store.steps import StepQueries
from flowdeck.store.templates import TemplateQueries
from flowdeck.store.webhooks import WebhookQueries
from flowdeck.store.workers import WorkerQueries
from flowdeck.store.workflows import WorkflowQueries
from flowdeck.store.workspaces import WorkspaceQueries


class Tx(
    WorkspaceQueries,
    WorkflowQueries,
    RunQueries,
    StepQueries,
    LeaseQueries,
    SecretQueries,
    ScheduleQueries,
    TemplateQueries,
    AnalyticsQueries,
    AgentQueries,
    RollupQueries,
    WorkerQueries,
    ClusterQueries,
    WebhookQueries,
    ProbeQueries,
    RetentionQueries,
    CompatQueries,
):
    """All queries Flowdeck runs, bound to one open transaction."""
