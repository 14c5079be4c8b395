"""The services a process offers, wired to one store and one clock."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from flowdeck.config import Settings
from flowdeck.crypto import SecretBox
from flowdeck.domain.clock import Clock, SystemClock
from flowdeck.domain.templating import Budget
from flowdeck.engine.egress import EgressPolicy, parse_allow_list
from flowdeck.engine.rendering import TemplateRenderer
from flowdeck.engine.runtime import Runtime
from flowdeck.engine.sandbox.select import log_selection, select_sandbox
from flowdeck.engine.signals import Signals
from flowdeck.engine.steps.base import StepEnvironment, StepHandler
from flowdeck.engine.steps.registry import all_handlers, config_registry
from flowdeck.engine.steps.script import sandbox_policy
from flowdeck.engine.worker_settings import WorkerSettings
from flowdeck.services.admin import AdminService
from flowdeck.services.agents import AgentService
from flowdeck.services.analytics import AnalyticsService
from flowdeck.services.approvals import ApprovalService
from flowdeck.services.auth import AuthService
from flowdeck.services.lifecycle import LifecycleService
from flowdeck.services.metrics import MetricsService
from flowdeck.services.ports import StorePort, TxPort
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
    runtime: Runtime[TxPort]
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
    def build(
        cls,
        settings: Settings,
        store: StorePort,
        clock: Clock | None = None,
        *,
        handlers: Mapping[str, StepHandler] | None = None,
    ) -> Services:
        """Wire the services for `store` (with the installed step types, or `handlers`)."""
        clock = clock or SystemClock()
        box = (
            SecretBox.from_passphrase(settings.secret_key)
            if settings.secret_key
            else SecretBox.from_data_dir(settings.data_dir)
        )
        auth = AuthService(store, clock)
        handlers = dict(handlers) if handlers is not None else all_handlers()
        transport = store.signal_transport()
        runtime = Runtime(
            store,
            clock,
            handlers,
            settings=worker_settings(settings),
            decrypt=box.decrypt,
            signals=Signals(transport) if transport is not None else None,
            egress=egress_policy(settings),
            templates=TemplateRenderer(template_budget(settings)),
        )
        agents = AgentService(store, clock, box)
        configure_steps(runtime.step_env, settings, agents)
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
                worker_metrics_url=settings.worker_metrics_url,
            ),
        )

    async def script_sandbox(self) -> str:
        """Where script steps run: bwrap, landlock, none, unavailable, or disabled."""
        if not self.settings.allow_scripts:
            return "disabled"
        return (await select_sandbox(sandbox_policy(self.runtime.step_env))).name

    async def announce_script_sandbox(self) -> None:
        """Probe the script sandbox now and log which one is active (or why none is)."""
        selection = None
        if self.settings.allow_scripts:
            selection = await select_sandbox(sandbox_policy(self.runtime.step_env))
        log_selection(selection, allow_scripts=self.settings.allow_scripts)


def configure_steps(env: StepEnvironment, settings: Settings, agents: AgentService) -> None:
    """What step handlers read from the settings: scripts, the LLM provider, agents."""
    env.allow_scripts = settings.allow_scripts
    env.script_cpu_seconds = settings.script_cpu_seconds
    env.script_memory_mb = settings.script_memory_mb
    env.script_sandbox = settings.script_sandbox
    env.script_network = settings.script_network
    env.script_max_processes = settings.script_max_processes
    env.script_file_size_mb = settings.script_file_size_mb
    env.script_tmp_size_mb = settings.script_tmp_size_mb
    env.script_bwrap_path = settings.script_bwrap_path
    env.script_python = settings.script_python
    env.script_uid = settings.script_uid
    env.llm_base_url = settings.llm_base_url
    env.llm_api_key = settings.llm_api_key
    env.agents = agents.profile


def egress_policy(settings: Settings) -> EgressPolicy:
    """Where steps may connect: FLOWDECK_HTTP_ALLOW, plus the operator's own LLM endpoint.

    An agent's own base_url (set through the API) gets no such pass: it is guarded like any URL.
    """
    policy = parse_allow_list(settings.http_allow)
    if settings.llm_base_url:
        policy = policy.with_endpoint(settings.llm_base_url)
    return policy


def worker_settings(settings: Settings) -> WorkerSettings:
    """The worker's pacing, from the process settings."""
    return WorkerSettings(
        max_running_runs=settings.max_concurrent_runs,
        max_parallel_steps=settings.max_parallel_steps,
        lease_seconds=settings.lease_seconds,
        heartbeat_seconds=settings.heartbeat_seconds,
        poll_seconds=settings.poll_seconds,
        shutdown_grace_seconds=settings.shutdown_grace_seconds,
        max_run_depth=settings.max_run_depth,
        max_inline_steps=settings.max_inline_steps,
    )


def template_budget(settings: Settings) -> Budget:
    """What one template render may spend (SPEC §9), from the process settings."""
    return Budget(
        iterations=settings.template_max_iterations,
        output_bytes=settings.template_max_output_bytes,
        built_bytes=settings.template_max_built_bytes,
        seconds=settings.template_timeout_seconds,
    )
