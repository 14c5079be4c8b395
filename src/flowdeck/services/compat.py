"""What the seed-compatible APIs need beyond Flowdeck's own services: a workspace named in the
path, workflow references (integer id, UUID, owner, seed fields), run numbers and projects.

Every rule about workflows and runs stays in their own services; this only reads and writes
the references the seeds add, always inside the caller's workspace."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from flowdeck.domain.clock import Clock
from flowdeck.domain.compat import Project, WorkflowRef
from flowdeck.domain.ids import new_id
from flowdeck.domain.records import Run, Workflow
from flowdeck.errors import BadRequest, Conflict, InvalidInput, NotFound
from flowdeck.services.auth import Principal
from flowdeck.services.ports import StorePort, TxPort
from flowdeck.services.scope import load_project, load_workflow

MAX_PROJECT_NAME = 200


class CompatService:
    """References and projects, scoped to the caller's workspace."""

    def __init__(self, store: StorePort, clock: Clock) -> None:
        self.store = store
        self.clock = clock

    # -- workspaces ------------------------------------------------------------------------

    async def check_workspace_slug(self, principal: Principal, slug: str) -> None:
        """NotFound unless `slug` names the caller's own workspace."""
        async with self.store.read() as tx:
            ws = await tx.get_workspace(principal.workspace_id)
        if ws is None or ws.slug != slug:
            raise NotFound(f"Workspace '{slug}' not found")

    async def check_workspace_uuid(self, principal: Principal, workspace_uuid: str) -> None:
        """NotFound unless `workspace_uuid` names the caller's own workspace."""
        async with self.store.read() as tx:
            found = await tx.workspace_id_by_uuid(workspace_uuid.lower())
        if found is None or found != principal.workspace_id:
            raise NotFound(f"Workspace '{workspace_uuid}' not found")

    async def workspace_uuid(self, principal: Principal) -> str:
        """The caller's workspace UUID."""
        async with self.store.write() as tx:
            return await tx.workspace_uuid(principal.workspace_id)

    # -- workflow references ---------------------------------------------------------------

    async def resolve(
        self, principal: Principal, ref: str, *, include_deleted: bool = False
    ) -> Workflow:
        """The caller's workflow by integer id or UUID (seed 003), or by id or slug."""
        async with self.store.read() as tx:
            found = await tx.workflow_id_by_ref(principal.workspace_id, ref)
            return await load_workflow(tx, principal, found or ref, include_deleted=include_deleted)

    async def refs(self, workflows: Sequence[Workflow]) -> dict[str, WorkflowRef]:
        """The references of these (already loaded, so visible) workflows."""
        async with self.store.read() as tx:
            return await tx.workflow_refs([w.id for w in workflows])

    async def ref(self, wf: Workflow) -> WorkflowRef:
        """One workflow's reference."""
        found = (await self.refs([wf])).get(wf.id)
        if found is None:
            raise NotFound(f"Workflow '{wf.id}' not found")
        return found

    async def merge_extras(
        self, principal: Principal, wf: Workflow, fields: Mapping[str, Any]
    ) -> WorkflowRef:
        """Store seed fields of a workflow the caller may edit (given keys replace theirs)."""
        principal.require("workflows:write")
        async with self.store.write() as tx:
            await load_workflow(tx, principal, wf.id, include_deleted=True)
            refs = await tx.workflow_refs([wf.id])
            current = refs[wf.id].extras if wf.id in refs else {}
            await tx.update_workflow_ref(wf.id, {"extras": {**current, **fields}})
            return (await tx.workflow_refs([wf.id]))[wf.id]

    async def set_owner(self, principal: Principal, wf: Workflow, key_number: int) -> None:
        """Hand a workflow to another live key of the workspace (by its integer id)."""
        principal.require("workflows:write")
        async with self.store.write() as tx:
            key_id = await tx.key_id_by_number(principal.workspace_id, key_number)
            if key_id is None:
                raise BadRequest(
                    "The update is invalid",
                    errors=[f"ownerId: {key_number} is not a key of this workspace"],
                )
            await load_workflow(tx, principal, wf.id, include_deleted=True)
            await tx.update_workflow_ref(wf.id, {"owner_key_id": key_id})

    async def member_id(self, principal: Principal) -> int | None:
        """The caller's key as an integer id (seed 003's member ids)."""
        async with self.store.read() as tx:
            return (await tx.key_numbers([principal.key_id])).get(principal.key_id)

    async def key_numbers(self, refs: Sequence[WorkflowRef]) -> dict[str, int]:
        """The integer ids of these workflows' owners, by key id."""
        owners = sorted({r.owner_key_id for r in refs if r.owner_key_id})
        async with self.store.read() as tx:
            return await tx.key_numbers(owners)

    # -- run numbers -----------------------------------------------------------------------

    async def number_run(self, tx: TxPort, run: Run) -> None:
        """Number a new run (and any older one still without a number) in its transaction."""
        await tx.number_runs(run.workflow_id)

    async def run_numbers(
        self, principal: Principal, wf: Workflow, runs: Sequence[Run]
    ) -> dict[str, int]:
        """The numbers of these runs of a workflow (numbering any that have none yet)."""
        async with self.store.write() as tx:
            await load_workflow(tx, principal, wf.id, include_deleted=True)
            await tx.number_runs(wf.id)
            return await tx.run_numbers([r.id for r in runs])

    # -- projects --------------------------------------------------------------------------

    async def create_project(
        self, principal: Principal, name: str, description: str | None = None
    ) -> Project:
        """A new project in the caller's workspace."""
        principal.require("workflows:write")
        name = name.strip()
        if not name or len(name) > MAX_PROJECT_NAME:
            raise InvalidInput(
                "Invalid project", errors=[f"name must be 1 to {MAX_PROJECT_NAME} characters"]
            )
        project = Project(
            id=new_id("proj"),
            workspace_id=principal.workspace_id,
            name=name,
            description=description,
            created_at=self.clock.now(),
        )
        async with self.store.write() as tx:
            if await tx.get_project(principal.workspace_id, name) is not None:
                raise Conflict(f"A project named '{name}' already exists in this workspace")
            await tx.insert_project(project)
        return project

    async def list_projects(self, principal: Principal) -> list[Project]:
        """The caller's workspace's projects, by name."""
        principal.require("workflows:read")
        async with self.store.read() as tx:
            return await tx.list_projects(principal.workspace_id)

    async def project(self, principal: Principal, id_or_name: str) -> Project:
        """One project of the caller's workspace, by id or name, or NotFound."""
        principal.require("workflows:read")
        async with self.store.read() as tx:
            return await load_project(tx, principal, id_or_name)
