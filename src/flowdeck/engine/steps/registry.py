"""Step handlers: the built-in ones plus plugins from the `flowdeck.steps` entry point group."""

from __future__ import annotations

import logging
from importlib.metadata import entry_points

from pydantic import BaseModel

from flowdeck.domain.step_configs import BUILTIN_STEP_CONFIGS
from flowdeck.engine.steps.agent_task import AgentTaskHandler
from flowdeck.engine.steps.approval import ApprovalHandler
from flowdeck.engine.steps.base import StepHandler
from flowdeck.engine.steps.condition import ConditionHandler
from flowdeck.engine.steps.http_request import HttpRequestHandler
from flowdeck.engine.steps.loop import LoopHandler
from flowdeck.engine.steps.script import ScriptHandler
from flowdeck.engine.steps.transform import TransformHandler
from flowdeck.engine.steps.wait import WaitHandler
from flowdeck.engine.steps.webhook import WebhookHandler
from flowdeck.engine.steps.workflow import WorkflowHandler

log = logging.getLogger("flowdeck.steps")
ENTRY_POINT_GROUP = "flowdeck.steps"


def builtin_handlers() -> dict[str, StepHandler]:
    """The step types that ship with Flowdeck and can run here."""
    handlers: list[StepHandler] = [
        HttpRequestHandler(),
        ScriptHandler(),
        ConditionHandler(),
        LoopHandler(),
        WaitHandler(),
        WebhookHandler(),
        TransformHandler(),
        WorkflowHandler(),
        AgentTaskHandler(),
        ApprovalHandler(),
    ]
    return {h.type_name: h for h in handlers}


def plugin_handlers() -> dict[str, StepHandler]:
    """Handlers registered by installed packages under `flowdeck.steps`."""
    found: dict[str, StepHandler] = {}
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        try:
            loaded = ep.load()
            handler = loaded() if isinstance(loaded, type) else loaded
        except Exception:
            log.exception("could not load step plugin %s", ep.name)
            continue
        if handler.type_name in BUILTIN_STEP_CONFIGS:
            log.warning(
                "plugin %s may not replace built-in step type %s", ep.name, handler.type_name
            )
            continue
        found[handler.type_name] = handler
    return found


def all_handlers() -> dict[str, StepHandler]:
    """Built-in and plugin handlers."""
    return {**plugin_handlers(), **builtin_handlers()}


def config_registry(handlers: dict[str, StepHandler]) -> dict[str, type[BaseModel]]:
    """Config schemas for validation: every built-in type plus the plugins'."""
    registry: dict[str, type[BaseModel]] = dict(BUILTIN_STEP_CONFIGS)
    for name, handler in handlers.items():
        registry.setdefault(name, handler.config_model)
    return registry
