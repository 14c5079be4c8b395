"""Workflow templates: built-in ones shipped with the package, and workspace templates."""

from __future__ import annotations

from flowdeck.domain.clock import Clock
from flowdeck.services.ports import StorePort
from flowdeck.services.workflows import WorkflowService


class TemplateService:
    """List, get, install and save templates (scaffold: being built)."""

    def __init__(self, store: StorePort, clock: Clock, workflows: WorkflowService) -> None:
        self.store = store
        self.clock = clock
        self.workflows = workflows
