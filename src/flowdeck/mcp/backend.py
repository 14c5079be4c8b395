"""What the MCP tools call: Flowdeck's services in this process, or a server's REST API.

Both answer with the REST API's JSON shapes and raise FlowdeckError with the REST API's
sentences, so a tool behaves the same whichever way it reaches Flowdeck.
"""

from __future__ import annotations

from typing import Any, Protocol

import httpx

from flowdeck.domain.clock import isoformat
from flowdeck.domain.validation import DefinitionParseError, load_definition_text
from flowdeck.errors import (
    BadRequest,
    Conflict,
    FlowdeckError,
    Forbidden,
    InvalidInput,
    NotFound,
    PreconditionFailed,
    Unauthorized,
)
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


_ERRORS: dict[int, type[FlowdeckError]] = {
    400: BadRequest,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
    412: PreconditionFailed,
    422: InvalidInput,
}


class RemoteBackend:
    """Calls a Flowdeck server's REST API with an API key."""

    def __init__(self, server: str, api_key: str, *, timeout: float = 60.0) -> None:
        self.server = server.rstrip("/")
        self.client = httpx.AsyncClient(
            base_url=self.server,
            headers={"Authorization": f"Bearer {api_key}"},
            timeout=timeout,
        )

    async def aclose(self) -> None:
        """Close the HTTP connections."""
        await self.client.aclose()

    async def _call(self, method: str, path: str, body: Any = None) -> dict[str, Any]:
        try:
            resp = await self.client.request(method, path, json=body)
        except httpx.HTTPError as exc:
            raise FlowdeckError(
                f"Cannot reach the Flowdeck server at {self.server}: {exc}"
            ) from exc
        try:
            data = resp.json()
        except ValueError:
            data = {}
        if resp.status_code >= 400:
            detail = data.get("detail") if isinstance(data, dict) else None
            errors = data.get("errors") or [] if isinstance(data, dict) else []
            cls = _ERRORS.get(resp.status_code, FlowdeckError)
            raise cls(str(detail or f"HTTP {resp.status_code} from {self.server}"), errors=errors)
        return data if isinstance(data, dict) else {"result": data}

    async def whoami(self) -> dict[str, Any]:
        """GET /api/me."""
        return await self._call("GET", "/api/me")

    async def list_workflows(self) -> dict[str, Any]:
        """GET /api/workflows."""
        return await self._call("GET", "/api/workflows?limit=200")

    async def get_workflow(self, workflow_id: str) -> dict[str, Any]:
        """GET /api/workflows/{id}."""
        return await self._call("GET", f"/api/workflows/{_segment(workflow_id)}")

    async def create_workflow(self, body: dict[str, Any]) -> dict[str, Any]:
        """POST /api/workflows."""
        return await self._call("POST", "/api/workflows", body)

    async def update_workflow(self, workflow_id: str, body: dict[str, Any]) -> dict[str, Any]:
        """PUT /api/workflows/{id}."""
        return await self._call("PUT", f"/api/workflows/{_segment(workflow_id)}", body)

    async def delete_workflow(self, workflow_id: str) -> dict[str, Any]:
        """DELETE /api/workflows/{id}."""
        return await self._call("DELETE", f"/api/workflows/{_segment(workflow_id)}")

    async def run_workflow(
        self, workflow_id: str, inputs: dict[str, Any], dry_run: bool
    ) -> dict[str, Any]:
        """POST /api/workflows/{id}/run."""
        body = {"input_data": inputs, "trigger": "api", "dry_run": dry_run}
        result = await self._call("POST", f"/api/workflows/{_segment(workflow_id)}/run", body)
        if not dry_run:
            wf = await self.get_workflow(workflow_id)
            result["workflow_id"] = wf["id"]
        return result

    async def get_run(self, run_id: str) -> dict[str, Any]:
        """GET /api/workflows/runs/{id}."""
        return await self._call("GET", f"/api/workflows/runs/{_segment(run_id)}")

    async def decide(
        self, workflow_id: str, run_id: str, step_id: str, approve: bool, comment: str | None
    ) -> dict[str, Any]:
        """Check the run is the workflow's, then POST …/approve or /reject."""
        wf = await self.get_workflow(workflow_id)
        run = (await self.get_run(run_id))["run"]
        if run["workflow_id"] != wf["id"]:
            raise NotFound(f"Run '{run_id}' not found in workflow '{workflow_id}'")
        verb = "approve" if approve else "reject"
        path = f"/api/workflows/runs/{_segment(run_id)}/steps/{_segment(step_id)}/{verb}"
        result = await self._call("POST", path, {"comment": comment})
        return {**result, "workflow_id": wf["id"]}


def _segment(value: str) -> str:
    """`value` as one URL path segment."""
    from urllib.parse import quote

    return quote(value, safe="")
