"""`GET /metrics`: this process's registry plus instance-wide gauges read at scrape time."""

from __future__ import annotations

import hmac
from collections.abc import Iterable
from datetime import datetime, timedelta

from prometheus_client import REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from flowdeck.domain.clock import Clock
from flowdeck.domain.cluster import ClusterSnapshot, WorkerRecord
from flowdeck.domain.states import RunStatus, StepStatus
from flowdeck.errors import Unauthorized
from flowdeck.services.ports import StorePort

RUN_STATUSES = sorted(str(s) for s in RunStatus)
STEP_STATUSES = [str(s) for s in StepStatus]


class MetricsService:
    """Renders the Prometheus text exposition; the database is read once per scrape."""

    def __init__(
        self,
        store: StorePort,
        clock: Clock,
        *,
        token: str | None = None,
        live_within_seconds: float = 15.0,
    ) -> None:
        self.store = store
        self.clock = clock
        self.token = token
        self.live_within = timedelta(seconds=live_within_seconds)

    def check_token(self, presented: str | None) -> None:
        """With FLOWDECK_METRICS_TOKEN set, the scraper must present it as a Bearer token."""
        if self.token is None:
            return
        if presented is None or not hmac.compare_digest(presented.encode(), self.token.encode()):
            raise Unauthorized("GET /metrics needs the FLOWDECK_METRICS_TOKEN as a Bearer token")

    async def scrape(self, presented_token: str | None) -> bytes:
        """The exposition text: process metrics, then the cluster gauges."""
        self.check_token(presented_token)
        now = self.clock.now()
        async with self.store.read() as tx:
            snapshot = await tx.cluster_snapshot(now)
            workers = await tx.list_workers()
        cluster = CollectorRegistry(auto_describe=False)
        cluster.register(_ClusterCollector(snapshot, workers, now, self.live_within))
        return generate_latest(REGISTRY) + generate_latest(cluster)


class _ClusterCollector(Collector):
    """Gauges over one snapshot; built per scrape, so nothing is stale between scrapes."""

    def __init__(
        self,
        snapshot: ClusterSnapshot,
        workers: list[WorkerRecord],
        now: datetime,
        live_within: timedelta,
    ) -> None:
        self.snapshot = snapshot
        self.workers = workers
        self.now = now
        self.live_within = live_within

    def collect(self) -> Iterable[GaugeMetricFamily]:
        s = self.snapshot
        runs = GaugeMetricFamily(
            "flowdeck_runs", "Runs in the database, by status.", labels=["status"]
        )
        for status in RUN_STATUSES:
            runs.add_metric([status], s.runs_by_status.get(status, 0))
        yield runs
        steps = GaugeMetricFamily(
            "flowdeck_steps",
            "Current step runs of unfinished runs, by status.",
            labels=["status"],
        )
        for status in sorted(set(STEP_STATUSES) | set(s.steps_by_status)):
            steps.add_metric([status], s.steps_by_status.get(status, 0))
        yield steps
        yield GaugeMetricFamily(
            "flowdeck_queue_claimable_steps",
            "Ready steps of running runs that a worker may claim now.",
            value=s.claimable_steps,
        )
        yield GaugeMetricFamily(
            "flowdeck_queue_queued_runs",
            "Runs waiting for a slot under the concurrency limits.",
            value=s.runs_by_status.get("queued", 0),
        )
        oldest = 0.0
        if s.oldest_claimable_at is not None:
            oldest = max(0.0, (self.now - s.oldest_claimable_at).total_seconds())
        yield GaugeMetricFamily(
            "flowdeck_queue_oldest_claimable_age_seconds",
            "How long the oldest claimable step has waited for a worker (0 when none).",
            value=oldest,
        )
        yield from self._workers()

    def _workers(self) -> Iterable[GaugeMetricFamily]:
        heartbeat = GaugeMetricFamily(
            "flowdeck_worker_heartbeat_timestamp_seconds",
            "Unix time of each running worker's last heartbeat.",
            labels=["worker"],
        )
        inflight = GaugeMetricFamily(
            "flowdeck_worker_inflight_steps",
            "Steps each running worker was executing at its last heartbeat.",
            labels=["worker"],
        )
        capacity = GaugeMetricFamily(
            "flowdeck_worker_capacity_steps",
            "Steps each running worker may execute at once.",
            labels=["worker"],
        )
        live = 0
        for w in self.workers:
            heartbeat.add_metric([w.id], w.heartbeat_at.timestamp())
            inflight.add_metric([w.id], w.inflight)
            capacity.add_metric([w.id], w.capacity)
            if self.now - w.heartbeat_at <= self.live_within:
                live += 1
        yield heartbeat
        yield inflight
        yield capacity
        yield GaugeMetricFamily(
            "flowdeck_workers_live",
            "Workers whose heartbeat is newer than one lease (FLOWDECK_LEASE_SECONDS).",
            value=live,
        )
