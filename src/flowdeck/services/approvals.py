"""Human approvals: list the waiting `approval` steps and decide them (SPEC §3, §5)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flowdeck.domain.agents import PendingApproval
from flowdeck.domain.clock import Clock, isoformat
from flowdeck.domain.records import Page, Run, StepRun
from flowdeck.domain.states import StepStatus
from flowdeck.engine.runtime import Runtime
from flowdeck.engine.steps.base import Completed, StepFailed
from flowdeck.engine.work import Outcome
from flowdeck.errors import Conflict, InvalidInput, NotFound
from flowdeck.services.auth import Principal
from flowdeck.services.ports import StorePort, TxPort

MAX_COMMENT = 2000


@dataclass(frozen=True)
class Decision:
    """What was decided, by whom, and where the step and its run stand now."""

    run: Run
    step: StepRun
    approved: bool
    by: str
    comment: str | None
    decided_at: str


def approval_view(item: PendingApproval) -> dict[str, Any]:
    """A pending approval as the API and MCP show it."""
    state = item.state
    base = f"/api/workflows/runs/{item.run_id}/steps/{item.step_id}"
    return {
        "run_id": item.run_id,
        "step_id": item.step_id,
        "workflow_id": item.workflow_id,
        "workflow_name": item.workflow_name,
        "workflow_slug": item.workflow_slug,
        "run_status": item.run_status,
        "message": state.get("message"),
        "requested_at": state.get("requested_at") or isoformat(item.started_at),
        "expires_at": isoformat(item.wake_at),
        "on_timeout": state.get("on_timeout"),
        "requested_by": item.run_created_by,
        "approve_url": f"{base}/approve",
        "reject_url": f"{base}/reject",
    }


def decision_view(d: Decision) -> dict[str, Any]:
    """The answer to an approve or reject."""
    return {
        "run_id": d.run.id,
        "step_id": d.step.step_id,
        "approved": d.approved,
        "by": d.by,
        "comment": d.comment,
        "decided_at": d.decided_at,
        "step_status": d.step.status,
        "run_status": d.run.status,
    }


def _not_waiting(run_id: str, step: StepRun) -> str:
    if step.status == "completed":
        return f"Step '{step.step_id}' of run '{run_id}' was already decided (approved)"
    if step.status == "failed":
        return f"Step '{step.step_id}' of run '{run_id}' was already decided (rejected)"
    return (
        f"Step '{step.step_id}' of run '{run_id}' is not waiting for a decision "
        f"(it is {step.status})"
    )


class ApprovalService:
    """Decisions complete or fail the waiting step through the engine's StepFlow."""

    def __init__(self, store: StorePort, clock: Clock, runtime: Runtime[TxPort]) -> None:
        self.store = store
        self.clock = clock
        self.runtime = runtime

    async def pending(
        self,
        principal: Principal,
        *,
        workflow_id: str | None = None,
        limit: int = 50,
        offset: int = 0,
        cursor: str | None = None,
    ) -> Page[PendingApproval]:
        """Approval steps of the workspace waiting for a decision, oldest first."""
        principal.require("workflows:read")
        async with self.store.read() as tx:
            wf_id = None
            if workflow_id is not None:
                wf = await tx.get_workflow(principal.workspace_id, workflow_id)
                if wf is None:
                    raise NotFound(f"Workflow '{workflow_id}' not found")
                wf_id = wf.id
            return await tx.pending_approvals(
                principal.workspace_id,
                limit=limit,
                offset=offset,
                workflow_id=wf_id,
                after=cursor,
            )

    async def _run(
        self, tx: TxPort, principal: Principal, run_id: str, workflow_id: str | None
    ) -> Run:
        run = await tx.get_run(run_id, principal.workspace_id)
        if run is None or (
            principal.workflow_id is not None and run.workflow_id != principal.workflow_id
        ):
            raise NotFound(f"Run '{run_id}' not found")
        if workflow_id is not None:
            wf = await tx.get_workflow(principal.workspace_id, workflow_id)
            if wf is None or wf.id != run.workflow_id:
                raise NotFound(f"Run '{run_id}' not found in workflow '{workflow_id}'")
        return run

    async def decide(
        self,
        principal: Principal,
        run_id: str,
        step_id: str,
        *,
        approve: bool,
        comment: str | None = None,
        workflow_id: str | None = None,
    ) -> Decision:
        """Approve (the step completes) or reject (it fails; its dependents are skipped).

        Only a step still waiting can be decided: a second decision, or one after the
        timeout passed, is a Conflict.
        """
        principal.require("workflows:run")
        if comment is not None and len(comment) > MAX_COMMENT:
            raise InvalidInput(
                "Invalid comment", errors=[f"comment may be at most {MAX_COMMENT} characters"]
            )
        comment = comment.strip() or None if comment is not None else None
        async with self.runtime.transaction() as rt:
            run = await self._run(rt.tx, principal, run_id, workflow_id)
            step = await rt.tx.current_step(run.id, step_id)
            if step is None or step.parent_step_id is not None:
                raise NotFound(f"Step '{step_id}' not found in run '{run.id}'")
            if step.step_type != "approval":
                raise Conflict(
                    f"Step '{step_id}' is a {step.step_type} step, not an approval; "
                    "only approval steps can be approved or rejected"
                )
            if step.status != StepStatus.WAITING:
                raise Conflict(_not_waiting(run.id, step))
            now = self.clock.now()
            if step.wake_at is not None and step.wake_at <= now:
                rule = (step.state or {}).get("on_timeout", "reject")
                raise Conflict(
                    f"The approval of step '{step_id}' timed out at {isoformat(step.wake_at)}; "
                    f"its on_timeout rule ({rule}) decides it"
                )
            by = principal.name
            decided_at = isoformat(now) or ""
            decision = {"approved": approve, "by": by, "comment": comment, "decided_at": decided_at}
            outcome: Outcome
            if approve:
                outcome = Completed(decision)
            else:
                reason = f"Rejected by {by}" + (f": {comment}" if comment else "")
                outcome = StepFailed(reason, retryable=False, output=decision)
            # Of two concurrent decisions, the second finds the step decided.
            if not await rt.decide_approval(
                run, step, outcome, approved=approve, by=by, comment=comment
            ):
                raise Conflict(_not_waiting(run.id, step))
            decided = await rt.tx.get_step_run(step.id)
            after = await rt.tx.get_run(run.id)
        assert decided is not None and after is not None
        return Decision(after, decided, approve, by, comment, decided_at)
