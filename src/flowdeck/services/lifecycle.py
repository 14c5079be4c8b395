"""Workflow lifecycle: archive, trash, restore, permanent delete, preview, bulk, clone, fork.

Rules kept here: archive remembers the prior status and unarchive restores it; the trash is
`deleted_at` set, and a workflow there is 404 everywhere but the trash list, restore, the
deletion preview and permanent delete; names and slugs stay reserved in the trash, so a
restore never collides; a permanent delete needs `cascade` for runs and refuses active runs
even with it (cancel them first); the purge cancels the active runs of expired trash and
deletes the workflow on a later sweep. Tokens, hooks and public reads are in `access`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from flowdeck.config import Settings
from flowdeck.crypto import SecretBox
from flowdeck.domain.clock import Clock
from flowdeck.domain.credentials import mask_credentials
from flowdeck.domain.ids import new_id
from flowdeck.domain.records import Page, Run, Workflow, WorkflowFilter, WorkflowVersion
from flowdeck.domain.slugs import slug_problem, slugify
from flowdeck.engine.nesting import is_active
from flowdeck.engine.runtime import Runtime
from flowdeck.errors import Conflict, FlowdeckError, Forbidden, InvalidInput, NotFound
from flowdeck.services.access import AccessService
from flowdeck.services.auth import Principal
from flowdeck.services.ports import StorePort, TxPort
from flowdeck.services.retention import RetentionService
from flowdeck.services.runs import RunService
from flowdeck.services.scope import load_workflow

log = logging.getLogger("flowdeck.lifecycle")

PURGE_INTERVAL_SECONDS = 3600.0
PURGE_BATCH = 200
PREVIEW_RUNS = 20
BULK_MAX_IDS = 100


@dataclass(frozen=True)
class DeletionPreview:
    """What deleting a workflow for good would take with it."""

    workflow: Workflow
    run_count: int
    active_run_count: int
    schedule_count: int
    runs: list[Run]


@dataclass(frozen=True)
class BulkOutcome:
    """The result for one id of a bulk delete: an HTTP-like status and what happened."""

    id: str
    status: int
    result: str  # "trashed", "deleted" or "error"
    detail: str | None = None
    deleted_run_count: int | None = None


class LifecycleService:
    """Everything done to a workflow besides editing and running it."""

    def __init__(
        self,
        store: StorePort,
        clock: Clock,
        runtime: Runtime[TxPort],
        box: SecretBox,
        settings: Settings,
    ) -> None:
        self.store = store
        self.clock = clock
        self.runtime = runtime
        self.box = box
        self.settings = settings
        self.access = AccessService(store, clock, box, RunService(store, clock, runtime))
        self.retention = RetentionService(store, clock, settings.run_retention_days)
        self._purger: asyncio.Task[None] | None = None

    # -- background purge ------------------------------------------------------------------

    async def start(self) -> None:
        """Start the trash purge loop in this process."""
        if self._purger is None:
            self._purger = asyncio.create_task(self._purge_loop(), name="flowdeck-trash-purge")

    async def stop(self) -> None:
        """Stop the purge loop."""
        task, self._purger = self._purger, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _purge_loop(self) -> None:
        while True:
            sweeps = (self.purge_trash, self.purge_webhook_deliveries, self.purge_expired_runs)
            for sweep in sweeps:
                try:
                    while await sweep() >= PURGE_BATCH:
                        pass  # a full batch: there may be more right away
                except Exception:  # keep purging later; one bad sweep must not end the loop
                    log.exception(
                        "%s failed; retrying in %.0f s", sweep.__name__, PURGE_INTERVAL_SECONDS
                    )
            await asyncio.sleep(PURGE_INTERVAL_SECONDS)

    async def purge_webhook_deliveries(self) -> int:
        """Forget inbound webhook deliveries older than their replay window; returns how many.
        One server at a time does it (the store claims the sweep)."""
        return await self.access.purge_webhook_deliveries(PURGE_BATCH)

    async def purge_expired_runs(self) -> int:
        """Delete a batch of runs finished longer ago than FLOWDECK_RUN_RETENTION_DAYS."""
        return await self.retention.purge_expired()

    def purge_at(self, wf: Workflow) -> datetime | None:
        """When a workflow in the trash will be deleted for good."""
        if wf.deleted_at is None:
            return None
        return wf.deleted_at + timedelta(days=self.settings.trash_retention_days)

    async def purge_trash(self) -> int:
        """Delete for good what has been in the trash longer than the retention; returns how many.

        A workflow whose runs are still active has them cancelled and is deleted by a later
        sweep, once no worker can still be finishing one of its steps. Safe to run on many
        servers at once: each deletion is conditional, so only one of them counts it.
        """
        cutoff = self.clock.now() - timedelta(days=self.settings.trash_retention_days)
        async with self.store.read() as tx:
            expired = await tx.expired_trash(cutoff, PURGE_BATCH)
        purged = 0
        for workflow_id in expired:
            async with self.runtime.transaction() as rt:
                tx = rt.tx
                wf = await tx.get_workflow_by_id(workflow_id, include_deleted=True)
                if wf is None or wf.deleted_at is None or wf.deleted_at >= cutoff:
                    continue  # restored or purged meanwhile
                active = await tx.active_run_ids(workflow_id)
                for run_id in active:
                    run = await tx.get_run(run_id)
                    if run is not None and is_active(run):  # a parent's cancel may have taken it
                        await rt.cancel(run, "workflow purged from the trash")
                deleted = (
                    None if active else await tx.delete_workflow(workflow_id, trashed_before=cutoff)
                )
                if deleted is not None:
                    purged += 1
                    log.info("purged workflow %s from the trash", workflow_id)
        return purged

    # -- archive ---------------------------------------------------------------------------

    async def _reload(self, tx: TxPort, principal: Principal, workflow_id: str) -> Workflow:
        return await load_workflow(tx, principal, workflow_id, include_deleted=True)

    async def archive(self, principal: Principal, id_or_slug: str) -> Workflow:
        """Hide a workflow from the default list and stop it starting runs (idempotent)."""
        principal.require("workflows:write")
        async with self.store.write() as tx:
            wf = await load_workflow(tx, principal, id_or_slug)
            if wf.status != "archived":
                values = {
                    "status": "archived",
                    "pre_archive_status": wf.status,
                    "updated_at": self.clock.now(),
                }
                await tx.update_workflow(wf.id, values)
            return await self._reload(tx, principal, wf.id)

    async def unarchive(self, principal: Principal, id_or_slug: str) -> Workflow:
        """Bring an archived workflow back to the status it had (idempotent)."""
        principal.require("workflows:write")
        async with self.store.write() as tx:
            wf = await load_workflow(tx, principal, id_or_slug)
            if wf.status == "archived":
                values = {
                    "status": wf.pre_archive_status or "active",
                    "pre_archive_status": None,
                    "updated_at": self.clock.now(),
                }
                await tx.update_workflow(wf.id, values)
            return await self._reload(tx, principal, wf.id)

    # -- trash and deletion ----------------------------------------------------------------

    async def trash(self, principal: Principal, id_or_slug: str) -> Workflow:
        """Move a workflow to the trash; its runs stay, and it can be restored."""
        principal.require("workflows:write")
        async with self.store.write() as tx:
            wf = await load_workflow(tx, principal, id_or_slug)
            await tx.update_workflow(wf.id, {"deleted_at": self.clock.now()})
            return await self._reload(tx, principal, wf.id)

    async def restore(self, principal: Principal, id_or_slug: str) -> Workflow:
        """Take a workflow out of the trash (names stay reserved there, so none collides)."""
        principal.require("workflows:write")
        async with self.store.write() as tx:
            wf = await load_workflow(tx, principal, id_or_slug, include_deleted=True)
            if wf.deleted_at is None:
                raise Conflict(f"Workflow '{wf.slug}' is not in the trash")
            await tx.update_workflow(wf.id, {"deleted_at": None})
            return await self._reload(tx, principal, wf.id)

    async def list_trash(
        self, principal: Principal, *, limit: int = 50, offset: int = 0, cursor: str | None = None
    ) -> Page[Workflow]:
        """A page of the workspace's trash, newest first."""
        principal.require("workflows:read")
        if principal.workflow_id is not None:
            raise Forbidden("A workflow token cannot list the trash")
        if cursor is not None and not cursor.startswith("wf_"):
            raise InvalidInput("Invalid cursor", errors=[f"cursor '{cursor}' is not a workflow id"])
        async with self.store.read() as tx:
            return await tx.list_workflows(
                principal.workspace_id,
                WorkflowFilter(deleted=True, include_archived=True),
                limit=limit,
                offset=0 if cursor else offset,
                before_id=cursor,
            )

    async def delete_permanently(
        self, principal: Principal, id_or_slug: str, *, cascade: bool = False
    ) -> tuple[Workflow, int]:
        """Delete a workflow (live or in the trash) for good; returns how many runs went too.

        Runs need `cascade`; active runs always refuse (cancel them first), since a worker
        may be executing one of their steps.
        """
        principal.require("workflows:admin")
        async with self.store.write() as tx:
            wf = await load_workflow(tx, principal, id_or_slug, include_deleted=True)
            total, active = await tx.workflow_run_counts(wf.id)
            if active:
                raise Conflict(
                    f"Workflow '{wf.slug}' has {active} active run{'s' * (active != 1)}; "
                    "cancel them before deleting it for good"
                )
            if total and not cascade:
                raise Conflict(
                    f"Workflow '{wf.slug}' has {total} run{'s' * (total != 1)}; "
                    "pass cascade=true to delete them with it"
                )
            deleted = await tx.delete_workflow(wf.id)
            if deleted is None:
                raise NotFound(f"Workflow '{id_or_slug}' not found")
            return wf, deleted

    async def preview_deletion(self, principal: Principal, id_or_slug: str) -> DeletionPreview:
        """What a permanent delete would take: runs (the newest 20 listed), schedules."""
        principal.require("workflows:write")
        async with self.store.read() as tx:
            wf = await load_workflow(tx, principal, id_or_slug, include_deleted=True)
            total, active = await tx.workflow_run_counts(wf.id)
            page = await tx.list_runs(wf.id, status=None, limit=PREVIEW_RUNS)
            schedules = await tx.count_workflow_schedules(wf.id)
        return DeletionPreview(wf, total, active, schedules, page.items)

    async def bulk_delete(
        self, principal: Principal, ids: Sequence[str], *, permanent: bool, cascade: bool
    ) -> list[BulkOutcome]:
        """Trash (or delete for good) each workflow on its own; one failure stops none."""
        principal.require("workflows:admin" if permanent else "workflows:write")
        errors = []
        if not ids or len(ids) > BULK_MAX_IDS:
            errors.append(f"ids must list 1 to {BULK_MAX_IDS} workflows; got {len(ids)}")
        if cascade and not permanent:
            errors.append("cascade applies only with permanent=true")
        if errors:
            raise InvalidInput("Invalid bulk delete", errors=errors)
        outcomes = []
        for wf_id in dict.fromkeys(ids):
            try:
                if permanent:
                    _, n = await self.delete_permanently(principal, wf_id, cascade=cascade)
                    outcomes.append(BulkOutcome(wf_id, 200, "deleted", deleted_run_count=n))
                else:
                    await self.trash(principal, wf_id)
                    outcomes.append(BulkOutcome(wf_id, 200, "trashed"))
            except FlowdeckError as exc:
                outcomes.append(BulkOutcome(wf_id, exc.status, "error", detail=exc.detail))
        return outcomes

    # -- clone and fork --------------------------------------------------------------------

    async def clone(
        self, principal: Principal, id_or_slug: str, name: str, slug: str | None = None
    ) -> Workflow:
        """A new workflow with the definition, tags and description of this one (no runs)."""
        principal.require("workflows:read")
        principal.require("workflows:write")
        async with self.store.write() as tx:
            source = await load_workflow(tx, principal, id_or_slug)
            summary = f"Cloned from '{source.slug}' version {source.version}"
            return await self._copy(tx, principal, source, name, slug, "clone", summary)

    async def fork(
        self,
        principal: Principal,
        source_workspace: str,
        source_workflow: str,
        *,
        name: str | None = None,
        slug: str | None = None,
    ) -> Workflow:
        """Copy another workspace's public workflow into the caller's workspace."""
        principal.require("workflows:write")
        async with self.store.write() as tx:
            ws = await tx.get_workspace_by_slug(source_workspace)
            if ws is not None and ws.id == principal.workspace_id:
                raise InvalidInput(
                    "Fork from another workspace",
                    errors=[f"'{source_workspace}' is this workspace; clone the workflow instead"],
                )
            source = await tx.get_workflow(ws.id, source_workflow) if ws is not None else None
            if source is None or source.visibility != "public":
                raise NotFound(
                    f"No public workflow '{source_workflow}' in workspace '{source_workspace}'"
                )
            summary = f"Forked from '{source_workspace}/{source.slug}' version {source.version}"
            # The public view masks literal credentials; a fork must not carry them either.
            masked = replace(source, definition=mask_credentials(source.definition))
            return await self._copy(
                tx, principal, masked, name or source.name, slug, "fork", summary
            )

    async def _copy(
        self,
        tx: TxPort,
        principal: Principal,
        source: Workflow,
        name: str,
        slug: str | None,
        kind: str,
        summary: str,
    ) -> Workflow:
        name = name.strip()
        errors = []
        if not name or len(name) > 200:
            errors.append("name must be 1 to 200 characters")
        problem = None if slug is None else slug_problem(slug)
        if problem is not None:
            errors.append(problem)
        if errors:
            raise InvalidInput(f"Invalid {kind}", errors=errors)
        slug = slug or slugify(name)
        name_taken, slug_taken = await tx.workflow_name_taken(
            principal.workspace_id, name=name, slug=slug
        )
        if name_taken:
            raise Conflict(f"A workflow named '{name}' already exists in this workspace")
        if slug_taken:
            raise Conflict(f"A workflow with slug '{slug}' already exists in this workspace")
        now = self.clock.now()
        definition = {**source.definition, "name": name}
        wf = Workflow(
            id=new_id("wf"),
            workspace_id=principal.workspace_id,
            slug=slug,
            name=name,
            description=source.description,
            tags=source.tags,
            status="active",
            trigger_type=source.trigger_type,
            visibility="private",
            version=1,
            definition=definition,
            created_at=now,
            updated_at=now,
            created_by=principal.name,
            source_workflow_id=source.id,
            source_kind=kind,
            owner_key_id=principal.key_id,
        )
        await tx.insert_workflow(wf)
        await tx.insert_version(
            WorkflowVersion(
                workflow_id=wf.id,
                version=1,
                definition=definition,
                change_summary=summary,
                created_at=now,
                created_by=principal.name,
            )
        )
        return wf
