"""Workflow use cases: create, read, list, update, status, versions, diff, rollback."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from flowdeck.domain.clock import Clock
from flowdeck.domain.diff import diff_definitions
from flowdeck.domain.ids import new_id
from flowdeck.domain.limits import MAX_DEFINITION_BYTES
from flowdeck.domain.nesting import self_calls
from flowdeck.domain.records import (
    TRIGGER_TYPES,
    WORKFLOW_STATUSES,
    Page,
    Workflow,
    WorkflowFilter,
    WorkflowVersion,
)
from flowdeck.domain.slugs import slug_problem
from flowdeck.domain.slugs import slugify as slugify  # re-exported: callers import it here
from flowdeck.domain.step_configs import StepConfigRegistry
from flowdeck.domain.validation import (
    DefinitionParseError,
    ValidationResult,
    load_definition_text,
    validate_definition,
)
from flowdeck.errors import Conflict, InvalidInput, NotFound, PreconditionFailed
from flowdeck.services.auth import Principal
from flowdeck.services.ports import StorePort, TxPort
from flowdeck.services.scope import load_project, load_workflow

VISIBILITIES = ("private", "public")


def _canonical(definition: Mapping[str, Any]) -> str:
    return json.dumps(definition, sort_keys=True, separators=(",", ":"))


def _check_choice(value: str | None, field: str, choices: Sequence[str], errors: list[str]) -> None:
    if value is not None and value not in choices:
        errors.append(f"{field} must be one of {', '.join(choices)}; got '{value}'")


def _check_slug(slug: str | None, errors: list[str]) -> None:
    problem = None if slug is None else slug_problem(slug)
    if problem is not None:
        errors.append(problem)


def _check_tags(tags: Sequence[str] | None, errors: list[str]) -> tuple[str, ...] | None:
    if tags is None:
        return None
    for tag in tags:
        if not tag or len(tag) > 100:
            errors.append(f"Tag '{tag}' must be 1 to 100 characters")
    return tuple(dict.fromkeys(tags))


def _matches(wf: Workflow, flt: WorkflowFilter) -> bool:
    """The store's list filter applied to one workflow (a token's list holds only its own)."""
    if flt.status and wf.status != flt.status:
        return False
    archived = wf.status == "archived"
    if flt.only_archived and not archived:
        return False
    if archived and not (flt.only_archived or flt.include_archived or flt.status == "archived"):
        return False
    if flt.trigger_type and wf.trigger_type != flt.trigger_type:
        return False
    if flt.project_id and wf.project_id != flt.project_id:
        return False
    if flt.tag and flt.tag not in wf.tags:
        return False
    if flt.q:
        needle = flt.q.lower()
        return any(needle in (v or "").lower() for v in (wf.name, wf.description, wf.slug))
    return True


class WorkflowService:
    """Everything one can do to a workflow's definition and metadata."""

    def __init__(
        self,
        store: StorePort,
        clock: Clock,
        *,
        max_steps: int = 1000,
        max_definition_bytes: int = MAX_DEFINITION_BYTES,
        step_configs: StepConfigRegistry | None = None,
    ) -> None:
        self.store = store
        self.clock = clock
        self.max_steps = max_steps
        self.max_definition_bytes = max_definition_bytes
        self.step_configs = step_configs

    def validate(
        self, definition: Any, overrides: Mapping[str, Any] | None = None
    ) -> ValidationResult:
        """Validate a definition (an object, or YAML/JSON text) without storing anything;
        `overrides` replace top-level fields (name, description) of an object definition."""
        if isinstance(definition, str):
            try:
                definition = load_definition_text(definition, max_bytes=self.max_definition_bytes)
            except DefinitionParseError as exc:
                return ValidationResult([str(exc)], [], None)
        if isinstance(definition, dict) and overrides:
            definition = {**definition, **overrides}
        return validate_definition(
            definition,
            max_steps=self.max_steps,
            max_bytes=self.max_definition_bytes,
            step_configs=self.step_configs,
        )

    async def check(
        self, definition: Any, overrides: Mapping[str, Any] | None = None
    ) -> ValidationResult:
        """`validate` in a worker thread: parsing and validating a big definition takes longer
        than the event loop may be held (the API, SSE streams and the engine share it)."""
        return await asyncio.to_thread(self.validate, definition, overrides)

    async def get(self, principal: Principal, id_or_slug: str) -> Workflow:
        """One workflow of the caller's workspace, or NotFound."""
        principal.require("workflows:read")
        async with self.store.read() as tx:
            return await load_workflow(tx, principal, id_or_slug)

    async def list_workflows(
        self,
        principal: Principal,
        flt: WorkflowFilter,
        *,
        limit: int = 50,
        offset: int = 0,
        cursor: str | None = None,
    ) -> Page[Workflow]:
        """A page of the workspace's workflows."""
        principal.require("workflows:read")
        errors: list[str] = []
        _check_choice(flt.status, "status", WORKFLOW_STATUSES, errors)
        _check_choice(flt.trigger_type, "trigger_type", TRIGGER_TYPES, errors)
        if cursor is not None and not cursor.startswith("wf_"):
            errors.append(f"cursor '{cursor}' is not a workflow id")
        if errors:
            raise InvalidInput("Invalid filter", errors=errors)
        if flt.project_id is not None:
            async with self.store.read() as tx:
                project = await load_project(tx, principal, flt.project_id)
            flt = replace(flt, project_id=project.id)
        if principal.workflow_id is not None:
            return await self._token_list(principal, flt, offset=offset, cursor=cursor)
        async with self.store.read() as tx:
            return await tx.list_workflows(
                principal.workspace_id,
                flt,
                limit=limit,
                offset=0 if cursor else offset,
                before_id=cursor,
            )

    async def _token_list(
        self, principal: Principal, flt: WorkflowFilter, *, offset: int, cursor: str | None
    ) -> Page[Workflow]:
        """A workflow token's list: its one workflow, when the filter keeps it."""
        async with self.store.read() as tx:
            wf = await tx.get_workflow(principal.workspace_id, principal.workflow_id or "")
        if wf is None or flt.deleted or not _matches(wf, flt):
            return Page(items=[], total=0)
        on_page = offset == 0 and (cursor is None or wf.id < cursor)
        return Page(items=[wf] if on_page else [], total=1)

    async def create(
        self,
        principal: Principal,
        definition: Any,
        *,
        trigger_type: str = "manual",
        tags: Sequence[str] = (),
        description: str | None = None,
        slug: str | None = None,
        status: str = "active",
        visibility: str = "private",
        legacy_webhook_signature: bool = False,
        project_id: str | None = None,
    ) -> Workflow:
        """Validate and store a new workflow with its version 1 (in a project, if given)."""
        principal.require("workflows:write")
        errors: list[str] = []
        _check_choice(trigger_type, "trigger_type", TRIGGER_TYPES, errors)
        _check_choice(status, "status", WORKFLOW_STATUSES, errors)
        _check_choice(visibility, "visibility", VISIBILITIES, errors)
        checked_tags = _check_tags(tags, errors) or ()
        _check_slug(slug, errors)
        overrides = {"description": description} if description is not None else None
        result = await self.check(definition, overrides)
        errors.extend(result.errors)
        if result.definition is not None:
            own = slug or slugify(result.definition.name)
            errors.extend(self_calls(result.definition, {own}))
        if errors or result.definition is None:
            raise InvalidInput("The workflow is invalid", errors=errors)
        stored = result.definition.model_dump(mode="json", exclude_unset=True, by_alias=True)
        name = result.definition.name
        now = self.clock.now()
        wf = Workflow(
            id=new_id("wf"),
            workspace_id=principal.workspace_id,
            slug=slug or slugify(name),
            name=name,
            description=result.definition.description,
            tags=checked_tags,
            status=status,
            trigger_type=trigger_type,
            visibility=visibility,
            version=1,
            definition=stored,
            created_at=now,
            updated_at=now,
            created_by=principal.name,
            legacy_webhook_signature=legacy_webhook_signature,
            owner_key_id=principal.key_id,
            project_id=project_id,
        )
        first = WorkflowVersion(wf.id, 1, stored, "Initial version", now, principal.name)
        async with self.store.write() as tx:
            await self._ensure_unique(tx, principal.workspace_id, name=name, slug=wf.slug)
            if project_id is not None:
                project = await load_project(tx, principal, project_id)
                wf = replace(wf, project_id=project.id)
            await tx.insert_workflow(wf)
            await tx.insert_version(first)
        return wf

    async def _ensure_unique(
        self,
        tx: TxPort,
        workspace_id: str,
        *,
        name: str | None = None,
        slug: str | None = None,
    ) -> None:
        name_taken, slug_taken = await tx.workflow_name_taken(workspace_id, name=name, slug=slug)
        if name_taken:
            raise Conflict(f"A workflow named '{name}' already exists in this workspace")
        if slug_taken:
            raise Conflict(f"A workflow with slug '{slug}' already exists in this workspace")

    async def update(
        self,
        principal: Principal,
        id_or_slug: str,
        changes: Mapping[str, Any],
        *,
        if_match: int | None = None,
        snapshot: bool = False,
    ) -> Workflow:
        """Apply any subset of definition, change_summary, name, description, tags, slug,
        project_id, trigger_type, visibility, legacy_webhook_signature; a changed definition
        (name and description are part of it) makes a new version. A new slug replaces the
        old one, which stops resolving. With `snapshot`, a given definition makes a new
        version even when unchanged (callers keeping their own fields beside it version
        those too)."""
        principal.require("workflows:write")
        errors: list[str] = []
        _check_slug(changes.get("slug"), errors)
        _check_choice(changes.get("trigger_type"), "trigger_type", TRIGGER_TYPES, errors)
        _check_choice(changes.get("visibility"), "visibility", VISIBILITIES, errors)
        _check_slug(changes.get("slug"), errors)
        tags = _check_tags(changes.get("tags"), errors)
        overrides = {f: changes[f] for f in ("name", "description") if changes.get(f) is not None}
        result: ValidationResult | None = None
        if changes.get("definition") is not None:
            # A new definition is checked before the transaction: it needs nothing stored.
            result = await self.check(changes["definition"], overrides)
        async with self.store.write() as tx:
            wf = await load_workflow(tx, principal, id_or_slug)
            if if_match is not None and if_match != wf.version:
                raise PreconditionFailed(
                    f"The workflow is at version {wf.version}, not {if_match}; reload and retry"
                )
            if result is None and overrides:
                result = await self.check(dict(wf.definition), overrides)
            candidate = None
            if result is not None:
                errors.extend(result.errors)
                if result.definition is not None:
                    errors.extend(self_calls(result.definition, {wf.id, wf.slug}))
                    candidate = result.definition.model_dump(
                        mode="json", exclude_unset=True, by_alias=True
                    )
            if errors:
                raise InvalidInput("The update is invalid", errors=errors)
            values: dict[str, Any] = {}
            if tags is not None:
                values["tags"] = tags
            slug = changes.get("slug")
            if slug is not None and slug != wf.slug:
                await self._ensure_unique(tx, wf.workspace_id, slug=slug)
                values["slug"] = slug
            for field in ("trigger_type", "visibility", "legacy_webhook_signature"):
                if changes.get(field) is not None:
                    values[field] = changes[field]
            if "project_id" in changes:
                moved = changes["project_id"]
                target = await load_project(tx, principal, moved) if moved else None
                values["project_id"] = target.id if target else None
            slug = changes.get("slug")
            if slug is not None and slug != wf.slug:
                await self._ensure_unique(tx, wf.workspace_id, slug=slug)
                values["slug"] = slug
            summary = changes.get("change_summary")
            changed = candidate is not None and (
                snapshot or _canonical(candidate) != _canonical(wf.definition)
            )
            if candidate is not None and changed:
                if candidate["name"] != wf.name:
                    await self._ensure_unique(tx, wf.workspace_id, name=candidate["name"])
                _, auto = diff_definitions(wf.definition, candidate)
                await self._new_version(tx, principal, wf, candidate, summary or auto, values)
            elif values:
                values["updated_at"] = self.clock.now()
                await tx.update_workflow(wf.id, values)
            return await load_workflow(tx, principal, wf.id)

    async def _new_version(
        self,
        tx: TxPort,
        principal: Principal,
        wf: Workflow,
        definition: dict[str, Any],
        summary: str,
        extra: dict[str, Any] | None = None,
    ) -> None:
        now = self.clock.now()
        version = wf.version + 1
        values = {
            **(extra or {}),
            "definition": definition,
            "version": version,
            "name": definition["name"],
            "description": definition.get("description"),
            "updated_at": now,
        }
        if not await tx.update_workflow(wf.id, values, expected_version=wf.version):
            raise Conflict("The workflow was changed concurrently; reload and retry")
        await tx.insert_version(
            WorkflowVersion(
                workflow_id=wf.id,
                version=version,
                definition=definition,
                change_summary=summary,
                created_at=now,
                created_by=principal.name,
            )
        )

    async def set_status(self, principal: Principal, id_or_slug: str, status: str) -> Workflow:
        """Move a workflow to draft, active, paused or archived."""
        principal.require("workflows:write")
        errors: list[str] = []
        _check_choice(status, "status", WORKFLOW_STATUSES, errors)
        if errors:
            raise InvalidInput("Invalid status", errors=errors)
        async with self.store.write() as tx:
            wf = await load_workflow(tx, principal, id_or_slug)
            if wf.status != status:
                values: dict[str, Any] = {"status": status, "updated_at": self.clock.now()}
                # Unarchive restores the status a workflow had when it was archived.
                values["pre_archive_status"] = wf.status if status == "archived" else None
                await tx.update_workflow(wf.id, values)
            return await load_workflow(tx, principal, wf.id)

    async def versions(self, principal: Principal, id_or_slug: str) -> list[WorkflowVersion]:
        """Every version, newest first."""
        principal.require("workflows:read")
        async with self.store.read() as tx:
            wf = await load_workflow(tx, principal, id_or_slug)
            return await tx.list_versions(wf.id)

    async def version(self, principal: Principal, id_or_slug: str, number: int) -> WorkflowVersion:
        """One version, or NotFound."""
        principal.require("workflows:read")
        async with self.store.read() as tx:
            wf = await load_workflow(tx, principal, id_or_slug)
            return await self._version(tx, wf, number)

    async def _version(self, tx: TxPort, wf: Workflow, number: int) -> WorkflowVersion:
        found = await tx.get_version(wf.id, number)
        if found is None:
            raise NotFound(f"Workflow '{wf.id}' has no version {number}")
        return found

    async def diff(
        self, principal: Principal, id_or_slug: str, v1: int, v2: int
    ) -> tuple[list[dict[str, Any]], str]:
        """RFC 6902 operations from version v1 to v2, and a summary."""
        principal.require("workflows:read")
        async with self.store.read() as tx:
            wf = await load_workflow(tx, principal, id_or_slug)
            old = await self._version(tx, wf, v1)
            new = await self._version(tx, wf, v2)
        return diff_definitions(old.definition, new.definition)

    async def rollback(self, principal: Principal, id_or_slug: str, number: int) -> Workflow:
        """Make a new version whose definition is that of version `number`."""
        principal.require("workflows:write")
        async with self.store.write() as tx:
            wf = await load_workflow(tx, principal, id_or_slug)
            target = await self._version(tx, wf, number)
            if target.definition.get("name") != wf.name:
                await self._ensure_unique(tx, wf.workspace_id, name=target.definition["name"])
            await self._new_version(
                tx, principal, wf, dict(target.definition), f"Rolled back to version {number}"
            )
            return await load_workflow(tx, principal, wf.id)
