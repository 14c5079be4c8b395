"""Workflow analytics and related objects, computed in SQL."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from flowdeck.domain.analytics import (
    GRANULARITIES,
    PeriodCounts,
    StepAggregate,
    WorkflowLink,
    periods,
    window_start,
)
from flowdeck.domain.clock import Clock, isoformat
from flowdeck.errors import InvalidInput
from flowdeck.services.auth import Principal
from flowdeck.services.ports import StorePort, TxPort
from flowdeck.services.scope import load_workflow
from flowdeck.templates import builtin_template

MAX_DAYS = 366


def _rate(completed: int, failed: int) -> float | None:
    """Completed over completed plus failed; cancelled runs are neither."""
    finished = completed + failed
    return round(completed / finished, 4) if finished else None


def _seconds(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def _series(
    found: Sequence[PeriodCounts], all_periods: Sequence[str]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    by_period = {p.period: p for p in found}
    runs_over_time: list[dict[str, Any]] = []
    success: list[dict[str, Any]] = []
    for period in all_periods:
        counts = by_period.get(period) or PeriodCounts(period, 0, 0, 0, 0, 0.0, 0)
        runs_over_time.append(
            {
                "period": period,
                "total": counts.total,
                "completed": counts.completed,
                "failed": counts.failed,
                "cancelled": counts.cancelled,
            }
        )
        success.append({"period": period, "success_rate": _rate(counts.completed, counts.failed)})
    return runs_over_time, success


def _cost_breakdown(groups: Sequence[StepAggregate]) -> list[dict[str, Any]]:
    by_type: dict[str, tuple[float, int]] = {}
    for g in groups:
        cost, count = by_type.get(g.step_type, (0.0, 0))
        by_type[g.step_type] = (cost + g.cost, count + g.step_runs)
    rows = [
        {"step_type": t, "cost": round(cost, 6), "step_runs": count}
        for t, (cost, count) in by_type.items()
    ]
    return sorted(rows, key=lambda r: (-r["cost"], r["step_type"]))


def _step_stats(groups: Sequence[StepAggregate], order: Sequence[str]) -> list[dict[str, Any]]:
    by_step: dict[str, list[StepAggregate]] = {}
    for g in groups:
        by_step.setdefault(g.step_id, []).append(g)
    rank = {step_id: i for i, step_id in enumerate(order)}
    out = []
    for step_id in sorted(by_step, key=lambda s: (rank.get(s, len(rank)), s)):
        parts = by_step[step_id]
        # A step's own type carries its counts; a loop's iterations add cost only. Should the
        # step have changed type between versions, the type with the most runs gives the
        # average duration.
        main = max(parts, key=lambda g: (g.runs, g.completed))
        out.append(
            {
                "step_id": step_id,
                "step_type": main.step_type,
                "runs": sum(g.runs for g in parts),
                "attempts": sum(g.attempts for g in parts),
                "completed": sum(g.completed for g in parts),
                "failed": sum(g.failed for g in parts),
                "skipped": sum(g.skipped for g in parts),
                "avg_duration_seconds": _seconds(main.avg_duration_seconds),
                "total_cost": round(sum(g.cost for g in parts), 6),
            }
        )
    return out


class AnalyticsService:
    """KPIs, series, cost breakdown, step stats, related objects."""

    def __init__(self, store: StorePort, clock: Clock) -> None:
        self.store = store
        self.clock = clock

    async def analytics(
        self, principal: Principal, id_or_slug: str, *, days: int = 30, granularity: str = "daily"
    ) -> dict[str, Any]:
        """The Analytics tab over the last `days` UTC calendar days (today included)."""
        principal.require("workflows:read")
        errors = []
        if not 1 <= days <= MAX_DAYS:
            errors.append(f"days must be between 1 and {MAX_DAYS}; got {days}")
        grain = next((g for g in GRANULARITIES if g == granularity), None)
        if grain is None:
            errors.append(
                f"granularity must be one of {', '.join(GRANULARITIES)}; got '{granularity}'"
            )
        if errors or grain is None:
            raise InvalidInput("The analytics query is invalid", errors=errors)
        now = self.clock.now()
        since = window_start(now, days)
        async with self.store.read() as tx:
            wf = await load_workflow(tx, principal, id_or_slug)
            per_period = await tx.analytics_runs_per_period(wf.id, since, grain)
            timed = sum(p.timed for p in per_period)
            p50, p95 = await tx.analytics_run_percentiles(wf.id, since, (0.5, 0.95), count=timed)
            groups = await tx.analytics_step_aggregates(wf.id, since)
        runs_over_time, success_rate_series = _series(per_period, periods(since, now, grain))
        completed = sum(p.completed for p in per_period)
        failed = sum(p.failed for p in per_period)
        order = [str(s.get("id")) for s in wf.definition.get("steps") or []]
        return {
            "workflow_id": wf.id,
            "days": days,
            "granularity": grain,
            "since": isoformat(since),
            "until": isoformat(now),
            "kpis": {
                "total_runs": sum(p.total for p in per_period),
                "completed": completed,
                "failed": failed,
                "cancelled": sum(p.cancelled for p in per_period),
                "success_rate": _rate(completed, failed),
                "p50_duration_seconds": _seconds(p50),
                "p95_duration_seconds": _seconds(p95),
                "total_cost": round(sum(p.cost for p in per_period), 6),
            },
            "runs_over_time": runs_over_time,
            "success_rate_series": success_rate_series,
            "cost_breakdown": _cost_breakdown(groups),
            "step_stats": _step_stats(groups, order),
        }

    async def related(self, principal: Principal, id_or_slug: str) -> dict[str, Any]:
        """Schedules, templates saved from it, clones and forks of it, and its source."""
        principal.require("workflows:read")
        async with self.store.read() as tx:
            wf = await load_workflow(tx, principal, id_or_slug)
            schedules = await tx.related_schedules(wf.id)
            templates = await tx.templates_from_workflow(principal.workspace_id, wf.id)
            copies = [c for c in await tx.related_copies(wf.id) if not c.deleted]
            source = await self._source(tx, principal, await tx.related_source(wf.id))
        own = [c for c in copies if c.workspace_id == wf.workspace_id]
        return {
            "workflow_id": wf.id,
            "schedules": [
                {
                    "id": s.id,
                    "cron_expression": s.cron_expression,
                    "timezone": s.timezone,
                    "enabled": s.enabled,
                    "next_run_at": isoformat(s.next_run_at),
                }
                for s in schedules
            ],
            "templates": [
                {
                    "id": t.id,
                    "name": t.name,
                    "category": t.category,
                    "created_at": isoformat(t.created_at),
                }
                for t in templates
            ],
            "copies": [
                {
                    "id": c.id,
                    "name": c.name,
                    "slug": c.slug,
                    "kind": c.source_kind,
                    "created_at": isoformat(c.created_at),
                }
                for c in own
            ],
            # Forks into other workspaces are counted, never shown: they are not the caller's.
            "forks_elsewhere": len(copies) - len(own),
            "source": source,
        }

    async def _source(
        self, tx: TxPort, principal: Principal, source: tuple[str, str] | None
    ) -> dict[str, Any] | None:
        if source is None:
            return None
        kind, source_id = source
        gone = {"kind": kind, "id": source_id, "name": None, "available": False}
        if kind == "template":
            template = builtin_template(source_id) or await tx.get_template(
                principal.workspace_id, source_id
            )
            if template is None:
                return gone
            return {
                "kind": kind,
                "id": template.id,
                "name": template.name,
                "is_builtin": template.is_builtin,
                "available": True,
            }
        link: WorkflowLink | None = await tx.related_workflow(source_id)
        visible = link is not None and (
            link.workspace_id == principal.workspace_id or link.visibility == "public"
        )
        if link is None or link.deleted or not visible:
            return gone
        return {
            "kind": kind,
            "id": link.id,
            "name": link.name,
            "slug": link.slug,
            "workspace": link.workspace_slug,
            "available": True,
        }
