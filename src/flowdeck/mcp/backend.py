"""What the MCP tools call: Flowdeck's services in this process, or a server's REST API.

Both answer with the REST API's JSON shapes and raise FlowdeckError with the REST API's
sentences, so a tool behaves the same whichever way it reaches Flowdeck.
"""

from __future__ import annotations

from typing import Any, Protocol

from flowdeck.client.shapes import as_json
from flowdeck.domain.clock import isoformat
from flowdeck.domain.validation import DefinitionParseError, load_definition_text
from flowdeck.errors import InvalidInput, NotFound
from flowdeck.services.approvals import decision_view
from flowdeck.services.auth import Principal
from flowdeck.services.container import Services
from flowdeck.services.views import (
    run_detail,
    workflow_detail,
    workflow_summary,
    workspace_view,
)


class Backend(Protocol):
    """The operations the tools need, in REST shapes."""

    async def whoami(self) -> dict[str, Any]: ...
    async def list_workflows(self) -> dict[str, Any]: ...
    async def get_workflow(self, workflow_id: str) -> dict[str, Any]: ...
    async def create_workflow(self, body: dict[str, Any]) -> dict[str, Any]: ...
    async def update_workflow(self, workflow_id: str, body: dict[str, Any]) -> dict[str, Any]: ...
    async def delete_workflow(self, workflow_id: str) -> dict[str, Any]: ...
    async def run_workflow(
        self, workflow_id: str, inputs: dict[str, Any], dry_run: bool
    ) -> dict[str, Any]: ...
    async def get_run(self, run_id: str) -> dict[str, Any]: ...
    async def decide(
        self, workflow_id: str, run_id: str, step_id: str, approve: bool, comment: str | None
    ) -> dict[str, Any]: ...


def parse_definition(value: Any) -> Any:
    """A definition given as an object, or as YAML/JSON text."""
    if isinstance(value, str):
        try:
            return load_definition_text(value)
        except DefinitionParseError as exc:
            raise InvalidInput("The definition text cannot be parsed", errors=[str(exc)]) from exc
    return value


class LocalBackend:
    """Calls the services of this process as `principal`."""

    def __init__(self, services: Services, principal: Principal) -> None:
        self.services = services
        self.principal = principal

    async def whoami(self) -> dict[str, Any]:
        """The key's workspace."""
        ws = await self.services.admin.current_workspace(self.principal)
        return {"workspace": workspace_view(ws)}

    async def _detail(self, wf: Any) -> dict[str, Any]:
        secret = await self.services.lifecycle.access.webhook_secret_for(self.principal, wf)
        return workflow_detail(wf, self.principal, webhook_secret=secret)

    async def list_workflows(self) -> dict[str, Any]:
        """The first 200 workflows, newest first."""
        from flowdeck.domain.records import WorkflowFilter

        page = await self.services.workflows.list_workflows(
            self.principal, WorkflowFilter(), limit=200
        )
        return {
            "workflows": [workflow_summary(w, self.principal) for w in page.items],
            "total": page.total,
        }

    async def get_workflow(self, workflow_id: str) -> dict[str, Any]:
        """One workflow in full."""
        return await self._detail(await self.services.workflows.get(self.principal, workflow_id))

    async def create_workflow(self, body: dict[str, Any]) -> dict[str, Any]:
        """POST /api/workflows."""
        wf = await self.services.workflows.create(
            self.principal,
            parse_definition(body["definition"]),
            description=body.get("description"),
            project_id=body.get("project_id"),
        )
        return {"id": wf.id, "workflow": await self._detail(wf)}

    async def update_workflow(self, workflow_id: str, body: dict[str, Any]) -> dict[str, Any]:
        """PUT /api/workflows/{id}."""
        changes = dict(body)
        if "definition" in changes:
            changes["definition"] = parse_definition(changes["definition"])
        wf = await self.services.workflows.update(self.principal, workflow_id, changes)
        return await self._detail(wf)

    async def delete_workflow(self, workflow_id: str) -> dict[str, Any]:
        """DELETE /api/workflows/{id}: to the trash."""
        lifecycle = self.services.lifecycle
        wf = await lifecycle.trash(self.principal, workflow_id)
        return {
            "status": "success",
            "id": wf.id,
            "deleted_at": isoformat(wf.deleted_at),
            "purge_at": isoformat(lifecycle.purge_at(wf)),
        }

    async def run_workflow(
        self, workflow_id: str, inputs: dict[str, Any], dry_run: bool
    ) -> dict[str, Any]:
        """POST /api/workflows/{id}/run."""
        runs = self.services.runs
        if dry_run:
            plan = await runs.plan(self.principal, workflow_id, input_data=inputs)
            return {
                "valid": plan.valid,
                "errors": plan.errors,
                "plan": plan.plan,
                "steps": plan.steps,
                "estimated_cost": plan.estimated_cost,
                "estimated_duration_seconds": plan.estimated_duration_seconds,
                "estimate_basis": plan.estimate_basis,
            }
        run, _ = await runs.start(self.principal, workflow_id, input_data=inputs, trigger="api")
        return {"run_id": run.id, "status": run.status, "workflow_id": run.workflow_id}

    async def get_run(self, run_id: str) -> dict[str, Any]:
        """GET /api/workflows/runs/{id}."""
        run, steps = await self.services.runs.get(self.principal, run_id)
        return {"run": run_detail(run, steps)}

    async def decide(
        self, workflow_id: str, run_id: str, step_id: str, approve: bool, comment: str | None
    ) -> dict[str, Any]:
        """POST …/steps/{step_id}/approve or /reject (the run must be the workflow's)."""
        decision = await self.services.approvals.decide(
            self.principal,
            run_id,
            step_id,
            approve=approve,
            comment=comment,
            workflow_id=workflow_id,
        )
        return {**decision_view(decision), "workflow_id": decision.run.workflow_id}


class RemoteBackend:
    """Calls a Flowdeck server's REST API with an API key, through `flowdeck.AsyncClient`."""

    def __init__(self, server: str, api_key: str, *, timeout: float = 60.0) -> None:
        from flowdeck.client.aio import AsyncClient

        self.client = AsyncClient(server, api_key, timeout=timeout)

    async def aclose(self) -> None:
        """Close the HTTP connections."""
        await self.client.aclose()

    async def whoami(self) -> dict[str, Any]:
        """GET /api/me."""
        return await self.client.whoami()

    async def list_workflows(self) -> dict[str, Any]:
        """GET /api/workflows."""
        page = await self.client.workflows.list(limit=200)
        return {"workflows": as_json(page.items), "total": page.total}

    async def get_workflow(self, workflow_id: str) -> dict[str, Any]:
        """GET /api/workflows/{id}."""
        return dict(as_json(await self.client.workflows.get(workflow_id)))

    async def create_workflow(self, body: dict[str, Any]) -> dict[str, Any]:
        """POST /api/workflows."""
        fields = {k: v for k, v in body.items() if k != "definition"}
        wf = await self.client.workflows.create(body["definition"], **fields)
        return {"id": wf.id, "workflow": as_json(wf)}

    async def update_workflow(self, workflow_id: str, body: dict[str, Any]) -> dict[str, Any]:
        """PUT /api/workflows/{id}."""
        return dict(as_json(await self.client.workflows.update(workflow_id, **body)))

    async def delete_workflow(self, workflow_id: str) -> dict[str, Any]:
        """DELETE /api/workflows/{id}."""
        return dict(as_json(await self.client.workflows.delete(workflow_id)))

    async def run_workflow(
        self, workflow_id: str, inputs: dict[str, Any], dry_run: bool
    ) -> dict[str, Any]:
        """POST /api/workflows/{id}/run."""
        runs = self.client.runs
        if dry_run:
            return await runs.plan(workflow_id, inputs)
        started = await runs.start(workflow_id, inputs, trigger="api")
        wf = await self.client.workflows.get(workflow_id)
        return {**as_json(started), "workflow_id": wf.id}

    async def get_run(self, run_id: str) -> dict[str, Any]:
        """GET /api/workflows/runs/{id}."""
        return {"run": as_json(await self.client.runs.get(run_id))}

    async def decide(
        self, workflow_id: str, run_id: str, step_id: str, approve: bool, comment: str | None
    ) -> dict[str, Any]:
        """Check the run is the workflow's, then POST …/approve or /reject."""
        wf = await self.client.workflows.get(workflow_id)
        run = await self.client.runs.get(run_id)
        if run.workflow_id != wf.id:
            raise NotFound(f"Run '{run_id}' not found in workflow '{workflow_id}'")
        approvals = self.client.approvals
        decide = approvals.approve if approve else approvals.reject
        decision = await decide(run_id, step_id, comment)
        return {**as_json(decision), "workflow_id": wf.id}
