"""The services a process offers, wired to one store and one clock."""

from __future__ import annotations

from dataclasses import dataclass

from flowdeck.config import Settings
from flowdeck.crypto import SecretBox
from flowdeck.domain.clock import Clock, SystemClock
from flowdeck.engine.runtime import Runtime
from flowdeck.engine.signals import Signals
from flowdeck.engine.steps.registry import all_handlers, config_registry
from flowdeck.engine.worker import WorkerSettings
from flowdeck.services.admin import AdminService
from flowdeck.services.agents import AgentService
from flowdeck.services.analytics import AnalyticsService
from flowdeck.services.approvals import ApprovalService
from flowdeck.services.auth import AuthService
from flowdeck.services.lifecycle import LifecycleService
from flowdeck.services.metrics import MetricsService
from flowdeck.services.ports import StorePort
from flowdeck.services.runs import RunService
from flowdeck.services.schedules import ScheduleService
from flowdeck.services.templates import TemplateService
from flowdeck.services.workflows import WorkflowService


@dataclass
class Services:
    """Every use-case service, sharing the store and the clock."""

    settings: Settings
    store: StorePort
    clock: Clock
    auth: AuthService
    workflows: WorkflowService
    runs: RunService
    runtime: Runtime
    admin: AdminService
    box: SecretBox
    schedules: ScheduleService
    lifecycle: LifecycleService
    templates: TemplateService
    analytics: AnalyticsService
    agents: AgentService
    approvals: ApprovalService
    metrics: MetricsService

    @classmethod
    def build(cls, settings: Settings, store: StorePort, clock: Clock | None = None) -> Services:
        """Wire the services for `store`."""
        clock = clock or SystemClock()
        box = (
            SecretBox.from_passphrase(settings.secret_key)
            if settings.secret_key
            else SecretBox.from_data_dir(settings.data_dir)
        )
        auth = AuthService(store, clock)
        handlers = all_handlers()
        transport = store.signal_transport()
        runtime = Runtime(
            store,
            clock,
            handlers,
            settings=worker_settings(settings),
            decrypt=box.decrypt,
            signals=Signals(transport) if transport is not None else None,
        )
        env = runtime.step_env
        env.allow_scripts = settings.allow_scripts
        env.script_cpu_seconds = settings.script_cpu_seconds
        env.script_memory_mb = settings.script_memory_mb
        env.llm_base_url = settings.llm_base_url
        env.llm_api_key = settings.llm_api_key
        agents = AgentService(store, clock, box)
        env.agents = agents.profile
        workflows = WorkflowService(
            store,
            clock,
            max_steps=settings.max_steps,
            max_definition_bytes=settings.max_definition_bytes,
            step_configs=config_registry(handlers),
        )
        return cls(
            settings=settings,
            store=store,
            clock=clock,
            auth=auth,
            workflows=workflows,
            runs=RunService(store, clock, runtime),
            runtime=runtime,
            admin=AdminService(store, clock, auth, box, on_secrets_changed=runtime.secrets_changed),
            box=box,
            schedules=ScheduleService(store, clock, runtime, settings),
            lifecycle=LifecycleService(store, clock, runtime, box, settings),
            templates=TemplateService(store, clock, workflows),
            analytics=AnalyticsService(store, clock),
            agents=agents,
            approvals=ApprovalService(store, clock, runtime),
            metrics=MetricsService(
                store,
                clock,
                token=settings.metrics_token,
                live_within_seconds=settings.lease_seconds,
            ),
        )


def worker_settings(settings: Settings) -> WorkerSettings:
    """The worker's pacing, from the process settings."""
    return WorkerSettings(
        max_running_runs=settings.max_concurrent_runs,
        max_parallel_steps=settings.max_parallel_steps,
        lease_seconds=settings.lease_seconds,
        heartbeat_seconds=settings.heartbeat_seconds,
        poll_seconds=settings.poll_seconds,
        shutdown_grace_seconds=settings.shutdown_grace_seconds,
    )
