"""Workflow templates: built-in ones shipped with the package, and workspace templates."""

from __future__ import annotations

import copy
from typing import Any

from flowdeck.domain.catalog import Template
from flowdeck.domain.clock import Clock
from flowdeck.domain.ids import new_id
from flowdeck.domain.records import Page, Workflow
from flowdeck.errors import Conflict, Forbidden, InvalidInput, NotFound
from flowdeck.services.auth import Principal
from flowdeck.services.ports import StorePort, TxPort
from flowdeck.services.workflows import WorkflowService
from flowdeck.templates import builtin_template, builtin_templates

MAX_NAME = 200
MAX_CATEGORY = 64
# workflows.source_kind of a workflow installed from a template.
SOURCE_TEMPLATE = "template"


def _no_token(principal: Principal) -> None:
    if principal.workflow_id is not None:
        raise Forbidden("A workflow token may only read and run its own workflow")


def _text(value: str | None, field: str, limit: int, errors: list[str]) -> str | None:
    if value is None:
        return None
    value = value.strip()
    if not value or len(value) > limit:
        errors.append(f"{field} must be 1 to {limit} characters")
    return value


class TemplateService:
    """List, get, install, save and delete templates."""

    def __init__(self, store: StorePort, clock: Clock, workflows: WorkflowService) -> None:
        self.store = store
        self.clock = clock
        self.workflows = workflows

    async def list_templates(
        self,
        principal: Principal,
        *,
        category: str | None = None,
        is_builtin: bool | None = None,
        limit: int = 50,
        offset: int = 0,
        cursor: str | None = None,
    ) -> Page[Template]:
        """Built-in templates (by id) then the workspace's (newest first), one page of them.

        A cursor is the id of the last template of the previous page.
        """
        principal.require("workflows:read")
        _no_token(principal)
        builtins = (
            []
            if is_builtin is False
            else [t for t in builtin_templates() if category in (None, t.category)]
        )
        ws_offset, ws_cursor = 0, None
        if cursor is None:
            rest = builtins[offset:]
            ws_offset = max(0, offset - len(builtins))
        elif builtin_template(cursor) is not None:
            rest = [t for t in builtins if t.id > cursor]
        else:
            rest, ws_cursor = [], cursor
        head = rest[:limit]
        room = limit - len(head)
        ws_items: list[Template] = []
        ws_total, ws_more = 0, False
        if is_builtin is not True:
            async with self.store.read() as tx:
                page = await tx.list_templates(
                    principal.workspace_id,
                    category=category,
                    # With no room left, one row still tells whether another page follows.
                    limit=max(room, 1),
                    offset=ws_offset,
                    before_id=ws_cursor,
                )
            ws_total = page.total
            ws_items = page.items[:room]
            ws_more = page.next_cursor is not None if room else bool(page.items)
        items = head + ws_items
        more = len(rest) > limit or ws_more
        return Page(
            items=items,
            total=len(builtins) + ws_total,
            next_cursor=items[-1].id if more and items else None,
        )

    async def get(self, principal: Principal, template_id: str) -> Template:
        """A built-in template or one of the workspace's, or NotFound."""
        principal.require("workflows:read")
        _no_token(principal)
        async with self.store.read() as tx:
            return await self._load(tx, principal, template_id)

    async def _load(self, tx: TxPort, principal: Principal, template_id: str) -> Template:
        found = builtin_template(template_id) or await tx.get_template(
            principal.workspace_id, template_id
        )
        if found is None:
            raise NotFound(f"Template '{template_id}' not found")
        return found

    async def install(
        self, principal: Principal, template_id: str, *, name: str | None = None
    ) -> Workflow:
        """Create a workflow from a template; `name` replaces the definition's name."""
        principal.require("workflows:write")
        _no_token(principal)
        errors: list[str] = []
        name = _text(name, "name", MAX_NAME, errors)
        if errors:
            raise InvalidInput("The install request is invalid", errors=errors)
        template = await self.get(principal, template_id)
        definition: dict[str, Any] = copy.deepcopy(template.definition)
        if name is not None:
            definition["name"] = name
        wf = await self.workflows.create(principal, definition, trigger_type=template.trigger_type)
        async with self.store.write() as tx:
            await tx.set_workflow_source(wf.id, SOURCE_TEMPLATE, template.id)
        return wf

    async def save(
        self,
        principal: Principal,
        workflow_id: str,
        *,
        name: str | None = None,
        category: str | None = None,
        description: str | None = None,
    ) -> Template:
        """Save a workflow's current definition as a template of the workspace."""
        principal.require("workflows:write")
        _no_token(principal)
        errors: list[str] = []
        name = _text(name, "name", MAX_NAME, errors)
        category = _text(category, "category", MAX_CATEGORY, errors)
        if errors:
            raise InvalidInput("The template is invalid", errors=errors)
        async with self.store.write() as tx:
            wf = await tx.get_workflow(principal.workspace_id, workflow_id)
            if wf is None:
                raise NotFound(f"Workflow '{workflow_id}' not found")
            name = name or wf.name
            if any(t.name == name for t in builtin_templates()):
                raise Conflict(f"A built-in template is named '{name}'; choose another name")
            if await tx.template_name_taken(principal.workspace_id, name):
                raise Conflict(f"A template named '{name}' already exists in this workspace")
            template = Template(
                id=new_id("tpl"),
                name=name,
                category=category or "custom",
                description=description if description is not None else wf.description,
                definition=copy.deepcopy(wf.definition),
                is_builtin=False,
                workspace_id=principal.workspace_id,
                source_workflow_id=wf.id,
                created_by=principal.name,
                created_at=self.clock.now(),
            )
            await tx.insert_template(template)
        return template

    async def delete(self, principal: Principal, template_id: str) -> None:
        """Delete a workspace template; built-in templates cannot be deleted."""
        principal.require("workflows:write")
        _no_token(principal)
        if builtin_template(template_id) is not None:
            raise Conflict(
                f"Template '{template_id}' is built in and cannot be deleted; "
                "only templates saved in this workspace can"
            )
        async with self.store.write() as tx:
            if not await tx.delete_template(principal.workspace_id, template_id):
                raise NotFound(f"Template '{template_id}' not found")
