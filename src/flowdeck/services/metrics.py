"""`GET /metrics`: this process's registry plus instance-wide gauges read at scrape time."""

from __future__ import annotations

import hmac
import ipaddress
import platform
from collections.abc import Iterable
from datetime import datetime, timedelta

from prometheus_client import REGISTRY, CollectorRegistry, Info, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from flowdeck import __version__
from flowdeck.domain.clock import Clock
from flowdeck.domain.cluster import ClusterSnapshot, WorkerRecord
from flowdeck.domain.states import RUN_ACTIVE, RUN_TERMINAL, StepStatus
from flowdeck.errors import Forbidden, Unauthorized
from flowdeck.services.metrics_merge import add_peer, fetch_peer
from flowdeck.services.ports import StorePort

ACTIVE_RUN_STATUSES = sorted(str(s) for s in RUN_ACTIVE)
FINISHED_RUN_STATUSES = sorted(str(s) for s in RUN_TERMINAL)
STEP_STATUSES = [str(s) for s in StepStatus]
BUILD_INFO = Info("flowdeck_build", "The Flowdeck version this process runs, and its Python.")
BUILD_INFO.info({"version": __version__, "python": platform.python_version()})


def is_loopback(host: str | None) -> bool:
    """Whether a client address is this machine's own."""
    if host is None:
        return False
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class MetricsService:
    """Renders the Prometheus text exposition; the database is read once per scrape."""

    def __init__(
        self,
        store: StorePort,
        clock: Clock,
        *,
        token: str | None = None,
        live_within_seconds: float = 15.0,
        worker_metrics_url: str | None = None,
    ) -> None:
        self.store = store
        self.clock = clock
        self.token = token
        # `flowdeck serve`'s worker process: its counters are added to this process's.
        self.worker_metrics_url = worker_metrics_url
        self.live_within = timedelta(seconds=live_within_seconds)

    def check_access(self, presented: str | None, client_host: str | None) -> None:
        """With FLOWDECK_METRICS_TOKEN set, the scraper must present it as a Bearer token;
        without it, only a client on this machine (loopback) may scrape."""
        if self.token is None:
            if not is_loopback(client_host):
                raise Forbidden(
                    "GET /metrics answers only loopback clients unless FLOWDECK_METRICS_TOKEN "
                    "is set (then present it as a Bearer token)"
                )
            return
        if presented is None or not hmac.compare_digest(presented.encode(), self.token.encode()):
            raise Unauthorized("GET /metrics needs the FLOWDECK_METRICS_TOKEN as a Bearer token")

    async def scrape(self, presented_token: str | None, client_host: str | None) -> bytes:
        """The exposition text: process metrics, then the cluster gauges."""
        self.check_access(presented_token, client_host)
        now = self.clock.now()
        async with self.store.read() as tx:
            snapshot = await tx.cluster_snapshot(now)
            workers = await tx.list_workers()
        cluster = CollectorRegistry(auto_describe=False)
        cluster.register(_ClusterCollector(snapshot, workers, now, self.live_within))
        own = generate_latest(REGISTRY)
        if self.worker_metrics_url is not None:
            peer = await fetch_peer(self.worker_metrics_url)
            if peer is not None:
                own = add_peer(own, peer)
        return own + generate_latest(cluster)


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
        active = GaugeMetricFamily(
            "flowdeck_runs_active",
            "Unfinished runs in the database now, by status.",
            labels=["status"],
        )
        for status in ACTIVE_RUN_STATUSES:
            active.add_metric([status], s.runs_by_status.get(status, 0))
        yield active
        recorded = GaugeMetricFamily(
            "flowdeck_runs_finished_recorded",
            "Finished runs recorded since the database was created, by status (kept as runs "
            "end; a deleted or resumed run is taken back, one purged by retention is not).",
            labels=["status"],
        )
        for status in FINISHED_RUN_STATUSES:
            recorded.add_metric([status], s.runs_by_status.get(status, 0))
        yield recorded
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
