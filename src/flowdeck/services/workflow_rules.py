"""A definition file's metadata applied to its workflow (create and update).

A definition may carry `slug`, `tags`, `trigger_type`, `visibility` and `schedules` next to
its steps (`domain.definition_meta`). The workflow stores the definition without them; the
metadata goes to the workflow's own fields, and `schedules` — when present — is the complete
list of the workflow's schedules: missing ones are created, changed ones updated, unlisted
ones deleted, matching stored to listed ones by cron expression and time zone. A field the
request names itself (`trigger_type` in the body) wins over the file's.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from flowdeck.domain.definition_meta import DefinitionMetadata, ScheduleSpec, split_metadata
from flowdeck.domain.definition_text import DefinitionParseError, load_definition_text
from flowdeck.domain.schedules import InvalidSchedule, normalise_cron, schedule_problems
from flowdeck.domain.schedules import Schedule as StoredSchedule
from flowdeck.errors import InvalidInput
from flowdeck.services.auth import Principal
from flowdeck.services.schedules import ScheduleChanges, ScheduleService
from flowdeck.services.workflows import WorkflowService

META_ON_WORKFLOW = ("slug", "tags", "trigger_type", "visibility")
PAGE = 200


@dataclass
class ScheduleSync:
    """What reconciling a workflow's schedules did (schedule ids)."""

    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)


def take_metadata(definition: Any, max_bytes: int) -> tuple[Any, DefinitionMetadata | None]:
    """(the definition without metadata, the metadata) — text is parsed first. A definition
    that does not parse, or whose metadata is invalid, passes unchanged: validation names
    its problems as it does every other one."""
    parsed = definition
    if isinstance(definition, str):
        try:
            parsed = load_definition_text(definition, max_bytes=max_bytes)
        except DefinitionParseError:
            return definition, None
    if not isinstance(parsed, Mapping):
        return definition, None
    rest, meta, errors = split_metadata(parsed)
    if errors or meta is None:
        return definition, None
    return rest, meta


def _schedule_errors(specs: Sequence[ScheduleSpec], now: Any) -> list[str]:
    errors = []
    for i, spec in enumerate(specs):
        for problem in schedule_problems(spec.cron, spec.timezone, now):
            errors.append(f"schedules[{i}]: {problem}")
    seen = [(_cron(s.cron), s.timezone) for s in specs]
    for i, key in enumerate(seen):
        if key in seen[:i]:
            errors.append(f"schedules[{i}]: '{key[0]}' in {key[1]} is listed twice")
    return errors


def _cron(text: str) -> str:
    try:
        return normalise_cron(text)
    except InvalidSchedule:
        return text


async def create_workflow(
    workflows: WorkflowService,
    schedules: ScheduleService,
    principal: Principal,
    definition: Any,
    explicit: Mapping[str, Any],
) -> tuple[Any, ScheduleSync | None]:
    """Create a workflow from a definition (file metadata applied); `explicit` holds the
    fields the request named (trigger_type, tags, description, slug, status, visibility…)."""
    rest, meta = take_metadata(definition, workflows.max_definition_bytes)
    fields = dict(explicit)
    if meta is not None:
        _check_schedules(meta, workflows)
        for name in META_ON_WORKFLOW:
            value = getattr(meta, name)
            if value is not None and name not in fields:
                fields[name] = value
    wf = await workflows.create(principal, rest, **fields)
    sync = None
    if meta is not None and meta.schedules is not None:
        sync = await reconcile_schedules(schedules, principal, wf.id, meta.schedules)
    return wf, sync


async def update_workflow(
    workflows: WorkflowService,
    schedules: ScheduleService,
    principal: Principal,
    id_or_slug: str,
    changes: Mapping[str, Any],
    *,
    if_match: int | None = None,
) -> tuple[Any, ScheduleSync | None]:
    """Update a workflow; a definition's metadata applies as if given next to it."""
    merged = dict(changes)
    meta = None
    if merged.get("definition") is not None:
        merged["definition"], meta = take_metadata(
            merged["definition"], workflows.max_definition_bytes
        )
    if meta is not None:
        _check_schedules(meta, workflows)
        for name in META_ON_WORKFLOW:
            value = getattr(meta, name)
            if value is not None and merged.get(name) is None:
                merged[name] = value
    wf = await workflows.update(principal, id_or_slug, merged, if_match=if_match)
    sync = None
    if meta is not None and meta.schedules is not None:
        sync = await reconcile_schedules(schedules, principal, wf.id, meta.schedules)
    return wf, sync


def _check_schedules(meta: DefinitionMetadata, workflows: WorkflowService) -> None:
    """Bad crons and zones are refused before anything is written."""
    errors = _schedule_errors(meta.schedules or [], workflows.clock.now())
    if errors:
        raise InvalidInput("The workflow is invalid", errors=errors)


async def _all_schedules(
    schedules: ScheduleService, principal: Principal, workflow_id: str
) -> list[StoredSchedule]:
    found: list[StoredSchedule] = []
    cursor = None
    while True:
        page = await schedules.list_schedules(principal, workflow_id, limit=PAGE, cursor=cursor)
        found += page.items
        cursor = page.next_cursor
        if cursor is None:
            return found


async def reconcile_schedules(
    schedules: ScheduleService,
    principal: Principal,
    workflow_id: str,
    specs: Sequence[ScheduleSpec],
) -> ScheduleSync:
    """Make the workflow's schedules be `specs` (matched by cron and time zone)."""
    sync = ScheduleSync()
    stored = {
        (s.cron_expression, s.timezone): s
        for s in await _all_schedules(schedules, principal, workflow_id)
    }
    wanted = {(_cron(s.cron), s.timezone): s for s in specs}
    for key, gone in stored.items():
        if key not in wanted:
            await schedules.delete(principal, gone.id)
            sync.deleted.append(gone.id)
    for key, spec in wanted.items():
        current = stored.get(key)
        if current is None:
            created = await schedules.create(
                principal,
                workflow_id,
                cron_expression=spec.cron,
                timezone=spec.timezone,
                input_data=spec.input_data,
                enabled=spec.enabled,
            )
            sync.created.append(created.id)
        elif (current.input_data, current.enabled) != (spec.input_data, spec.enabled):
            changes = ScheduleChanges(input_data=spec.input_data, enabled=spec.enabled)
            await schedules.update(principal, current.id, changes)
            sync.updated.append(current.id)
    return sync
