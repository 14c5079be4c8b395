"""Scale-out under faults (SPEC §4): two `flowdeck serve` processes that run no worker and two
`flowdeck worker` processes share one PostgreSQL database and 100 runs of a 4-step workflow
calling a local HTTP service. A worker is SIGKILLed, or SIGTERMed, or every database connection
is cut mid-way: every run still completes and no completed step is executed again."""

from __future__ import annotations

import asyncio
import collections
import os
import signal
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from flowdeck.domain.clock import SystemClock
from flowdeck.services.auth import AuthService
from flowdeck.store.dialect import is_sqlite
from flowdeck.store.store import Store
from flowdeck.store.tables import step_runs
from tests.conftest import TEST_DB_ENV
from tests.e2e.conftest import (
    Process,
    Server,
    Target,
    WorkerProcess,
    http_diamond,
    launch_server,
    launch_worker,
)

_URL = os.environ.get(TEST_DB_ENV, "")

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.timeout(120),
    # Four processes each: in a parallel run (xdist, --dist loadgroup) these take turns on one
    # worker instead of two clusters fighting over two cores at once.
    pytest.mark.xdist_group("scale_out"),
    pytest.mark.skipif(
        not _URL or is_sqlite(_URL),
        reason="scale-out needs PostgreSQL (set FLOWDECK_TEST_DATABASE_URL): "
        "SQLite is single-process by design",
    ),
]

RUNS = 100
KEY = "fdk_scale_out_test_key_0123456789abcdefghijklmnop"
SETTINGS = {
    "FLOWDECK_BOOTSTRAP_API_KEY": KEY,
    "FLOWDECK_LEASE_SECONDS": "3",
    "FLOWDECK_HEARTBEAT_SECONDS": "0.5",
    "FLOWDECK_POLL_SECONDS": "0.2",
    "FLOWDECK_MAX_CONCURRENT_RUNS": "100",
    # Each worker runs at most 16 steps at once, so neither can take all the work.
    "FLOWDECK_MAX_PARALLEL_STEPS": "16",
}
DEADLINE = 60.0
FINAL = ("completed", "failed", "cancelled")
LEASE_EXPIRED = "lease expired"

T = TypeVar("T")
Attempts = dict[str, list[dict[str, Any]]]


def _definition(url: str) -> dict[str, Any]:
    return http_diamond(url, "Scale-out test")


class Db:
    """Direct reads of the shared database: what the API does not show (lease owners)."""

    def __init__(self, url: str) -> None:
        sync_url = make_url(url).set(drivername="postgresql+psycopg")
        self.engine = sa.create_engine(sync_url, poolclass=NullPool)

    def running(self) -> list[Any]:
        """Leased step runs: id, run_id, step_id, attempt, lease_owner."""
        s = step_runs.c
        query = sa.select(s.id, s.run_id, s.step_id, s.attempt, s.lease_owner).where(
            s.status == "running"
        )
        with self.engine.connect() as conn:
            return list(conn.execute(query))

    def completed(self) -> int:
        query = sa.select(sa.func.count()).where(step_runs.c.status == "completed")
        with self.engine.connect() as conn:
            return int(conn.execute(query).scalar_one())

    def unfinished_steps(self) -> str:
        """The attempts not completed of the runs not finished yet, for failure messages."""
        sql = sa.text(
            "SELECT s.run_id, s.step_id, s.attempt, s.is_current, s.status, s.lease_owner, "
            "s.lease_expires_at, s.available_at, s.error, r.status AS run_status "
            "FROM step_runs s JOIN runs r ON r.id = s.run_id "
            "WHERE r.status NOT IN ('completed', 'failed', 'cancelled') "
            "AND s.status <> 'completed' ORDER BY s.run_id, s.step_id, s.attempt LIMIT 40"
        )
        with self.engine.connect() as conn:
            rows = [dict(r._mapping) for r in conn.execute(sql)]
        return "\n".join(map(str, rows)) or "(none)"

    def terminate_backends(self) -> int:
        """Cut every other connection to this database; how many were cut."""
        sql = sa.text(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        with self.engine.connect() as conn:
            return int(conn.execute(sql).scalar_one())


@dataclass
class Cluster:
    """Two servers without workers, two workers, the target and the shared database."""

    servers: list[Server]
    workers: list[WorkerProcess]
    target: Target
    db: Db
    clients: list[httpx.Client]
    workflow_id: str = ""
    run_ids: list[str] = field(default_factory=list)
    # Every lease seen in the database: step run id -> owner.
    owners: dict[str, str] = field(default_factory=dict)

    @property
    def processes(self) -> list[Process]:
        return [*self.servers, *self.workers]

    def explain(self) -> str:
        """Process logs and the unfinished runs' step rows, for assertion messages."""
        parts = ["workers: " + ", ".join(f"{w.log.name} is {w.worker_id}" for w in self.workers)]
        for p in self.processes:
            state = "running" if p.alive() else f"exit code {p.proc.returncode}"
            lines = p.output().splitlines()[-150:]
            parts.append(f"===== {p.log.name} (pid {p.pid}, {state}) =====")
            parts.extend(lines)
        parts.append("===== attempts not completed of unfinished runs =====")
        parts.append(self.db.unfinished_steps())
        return "\n" + "\n".join(parts)

    def describe(self, key: str, attempts: list[dict[str, Any]], hits: int | None) -> str:
        """One step's attempts, who was seen holding each, and the target's count."""
        lines = [f"step {key}: the target saw {hits} request(s)"]
        for a in attempts:
            lines.append(
                f"  attempt {a['attempt']} {a['id']} {a['status']} current={a['current']} "
                f"lease seen held by {self.owners.get(a['id'], '(not seen)')}: {a['error']}"
            )
        return "\n".join(lines)

    def start_run(self, client: httpx.Client) -> httpx.Response:
        resp = client.post(f"/api/workflows/{self.workflow_id}/run", json={})
        if resp.status_code == 202:
            self.run_ids.append(resp.json()["run_id"])
        return resp

    def start_runs(self, n: int) -> None:
        """Start `n` runs, half through each server."""
        with ThreadPoolExecutor(max_workers=8) as pool:
            answers = list(pool.map(self.start_run, [self.clients[i % 2] for i in range(n)]))
        bad = [f"{r.status_code} {r.text}" for r in answers if r.status_code != 202]
        assert not bad, f"starting runs failed: {bad[:5]}{self.explain()}"

    def sample(self) -> list[Any]:
        """The leased step runs now; remembers who held each."""
        rows = self.db.running()
        for row in rows:
            if row.lease_owner:
                self.owners[row.id] = row.lease_owner
        return rows

    def wait_for(self, predicate: Callable[[], T], what: str, timeout: float = DEADLINE) -> T:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = predicate()
            if value:
                return value
            time.sleep(0.05)
        raise AssertionError(f"not reached within {timeout:g}s: {what}{self.explain()}")

    def mid_way(self, victim: WorkerProcess) -> bool:
        """Both workers have held leases, some steps completed, the victim holds leases now."""
        rows = self.sample()
        seen = set(self.owners.values())
        both = all(w.worker_id in seen for w in self.workers)
        victim_busy = any(r.lease_owner == victim.worker_id for r in rows)
        return both and victim_busy and self.db.completed() >= 40

    def wait_mid_way(self, victim: WorkerProcess) -> None:
        self.wait_for(lambda: self.mid_way(victim), "both workers busy, 40 steps completed")

    def pin_in_flight(self, worker: WorkerProcess) -> set[str]:
        """Make the target hold requests of steps `worker` runs now; the keys held so."""

        def pinned() -> set[str]:
            rows = self.sample()
            keys = {f"{r.run_id}:{r.step_id}" for r in rows if r.lease_owner == worker.worker_id}
            self.target.hold(keys & self.target.receiving())
            return self.target.holding() & keys

        self.wait_for(pinned, f"a request of {worker.worker_id} held at the target")
        return self.target.freeze()

    def all_finished(self) -> bool:
        resp = self.clients[0].get(f"/api/workflows/{self.workflow_id}/runs", params={"limit": 200})
        assert resp.status_code == 200, f"{resp.status_code} {resp.text}{self.explain()}"
        counts = collections.Counter(r["status"] for r in resp.json()["runs"])
        return sum(counts[s] for s in FINAL) == len(self.run_ids) == sum(counts.values())

    def assert_alive(self, *procs: Process) -> None:
        dead = [p.log.name for p in procs if not p.alive()]
        assert not dead, f"exited unexpectedly: {dead}{self.explain()}"

    def attempts(self) -> Attempts:
        """Per `<run_id>:<step_id>`, the step's attempts in order, read through both servers."""
        runs = []
        for i, rid in enumerate(self.run_ids):
            resp = self.clients[i % 2].get(f"/api/workflows/runs/{rid}")
            assert resp.status_code == 200, f"{resp.status_code} {resp.text}{self.explain()}"
            runs.append(resp.json()["run"])
        failed = [(r["id"], r["status"], r["error"]) for r in runs if r["status"] != "completed"]
        assert not failed, f"runs not completed: {failed}{self.explain()}"
        by_key: Attempts = collections.defaultdict(list)
        for run in runs:
            for s in run["step_runs"]:
                by_key[f"{run['id']}:{s['step_id']}"].append(s)
        assert len(by_key) == 4 * len(runs)
        for attempts in by_key.values():
            attempts.sort(key=lambda s: s["attempt"])
        return by_key

    def check(self, problems: list[str]) -> None:
        """Fail with every problem found at once, and the processes' logs."""
        assert not problems, "\n".join(problems) + self.explain()


def _completed_once(cluster: Cluster, by_key: Attempts, hits: dict[str, int]) -> list[str]:
    """No step completed twice; attempts before the completed one lost their lease; the
    target saw each step once per attempt at most, and exactly once when it had one attempt."""
    problems = []
    for key, attempts in by_key.items():
        n = hits.get(key, 0)
        done = [a for a in attempts if a["status"] == "completed"]
        ok = len(done) == 1 and attempts[-1] is done[0] and done[0]["current"]
        ok = ok and all(
            a["status"] == "failed" and LEASE_EXPIRED in (a["error"] or "") for a in attempts[:-1]
        )
        ok = ok and 1 <= n <= len(attempts)
        if not ok:
            problems.append(cluster.describe(key, attempts, n))
    return problems


def _register_key(database_url: str) -> None:
    """What the first `flowdeck serve` would do: the workspace and the admin key. Done here,
    the servers need not start one after the other (they would race to create them)."""

    async def bootstrap() -> None:
        store = Store.from_url(database_url, pool_size=1)
        try:
            await AuthService(store, SystemClock()).bootstrap(KEY)
        finally:
            await store.close()

    asyncio.run(bootstrap())


def _stop_all(procs: list[Process]) -> None:
    for p in procs:
        if p.alive():
            p.proc.send_signal(signal.SIGTERM)
    for p in procs:
        p.stop()  # waits, and kills what has not exited in time


@pytest.fixture
def cluster(tmp_path: Path, database_url: str) -> Iterator[Cluster]:
    target = Target(delay=0.1)
    db = Db(database_url)
    procs: list[Process] = []
    clients: list[httpx.Client] = []
    server_env = {**SETTINGS, "FLOWDECK_RUN_WORKER": "false"}
    try:
        _register_key(database_url)
        servers = []
        for name in ("server1", "server2"):
            servers.append(launch_server(tmp_path / name, database_url, env=server_env))
            procs.append(servers[-1])
        workers = []
        for name in ("worker1", "worker2"):
            workers.append(launch_worker(tmp_path / name, database_url, env=SETTINGS))
            procs.append(workers[-1])
        for s in servers:
            s.wait_ready()
        for w in workers:
            w.wait_started()
        headers = {"Authorization": f"Bearer {KEY}"}
        clients = [httpx.Client(base_url=s.url, headers=headers, timeout=10) for s in servers]
        c = Cluster(servers, workers, target, db, clients)
        resp = clients[0].post("/api/workflows", json={"definition": _definition(target.url)})
        assert resp.status_code == 201, resp.text
        c.workflow_id = resp.json()["id"]
        yield c
    finally:
        target.release()  # held requests would keep a draining worker busy
        for client in clients:
            client.close()
        _stop_all(procs)
        target.close()
        db.engine.dispose()


def test_sigkill_worker_mid_way(cluster: Cluster) -> None:
    victim, survivor = cluster.workers
    cluster.start_runs(RUNS)
    cluster.wait_mid_way(victim)
    pinned = cluster.pin_in_flight(victim)

    victim.stop(signal.SIGKILL)
    # Its leases outlive it until they lapse: these steps were in flight on it.
    orphans = {r.id for r in cluster.sample() if r.lease_owner == victim.worker_id}
    cluster.target.release()

    cluster.wait_for(cluster.all_finished, "every run finished")
    cluster.assert_alive(*cluster.servers, survivor)

    hits = cluster.target.snapshot()
    by_key = cluster.attempts()
    problems = _completed_once(cluster, by_key, hits)
    if set(cluster.owners.values()) - {w.worker_id for w in cluster.workers}:
        problems.append(f"leases held by others than the workers: {set(cluster.owners.values())}")
    # Held at the target when the victim died: ran there, then once more elsewhere.
    for key in sorted(pinned):
        if len(by_key[key]) != 2 or hits.get(key) != 2:
            problems.append(
                "pinned on the victim: " + cluster.describe(key, by_key[key], hits.get(key))
            )
    expired = {a["id"]: key for key, att in by_key.items() for a in att if a["status"] == "failed"}
    if not orphans:
        problems.append("the victim held no lease when it was killed")
    if orphans - set(expired):
        problems.append(f"the victim's leases {orphans - set(expired)} did not lapse")
    # Only the killed worker's leases lapsed.
    for sid, key in sorted(expired.items()):
        if cluster.owners.get(sid) == survivor.worker_id:
            problems.append(
                "the survivor lost a lease: " + cluster.describe(key, by_key[key], hits.get(key))
            )
    cluster.check(problems)


def test_sigterm_worker_drains_and_exits(cluster: Cluster) -> None:
    victim, survivor = cluster.workers
    cluster.start_runs(RUNS)
    cluster.wait_mid_way(victim)
    # Pinned steps cannot finish during the drain: the victim must hand them back.
    pinned = cluster.pin_in_flight(victim)

    victim.proc.send_signal(signal.SIGTERM)
    cluster.wait_for(lambda: not victim.alive(), "the SIGTERMed worker exited", timeout=40)
    assert victim.proc.returncode == 0, cluster.explain()
    cluster.target.release()

    cluster.wait_for(cluster.all_finished, "every run finished")
    cluster.assert_alive(*cluster.servers, survivor)

    hits = cluster.target.snapshot()
    problems = []
    for key, attempts in sorted(cluster.attempts().items()):
        done = [a for a in attempts if a["status"] == "completed"]
        lapsed = [a for a in attempts if LEASE_EXPIRED in (a["error"] or "")]
        ok = len(done) == 1 and attempts[-1] is done[0] and not lapsed
        if key in pinned:
            # It could not finish during the drain: handed back, then run by the other worker.
            ok = ok and hits.get(key) == 2
        else:
            # Finished where it was, by the draining worker or the other one.
            ok = ok and len(attempts) == 1 and hits.get(key) == 1
        if not ok:
            label = "pinned on the victim" if key in pinned else "not pinned"
            problems.append(f"{label}: " + cluster.describe(key, attempts, hits.get(key)))
    cluster.check(problems)


def test_database_connections_cut_mid_way(cluster: Cluster) -> None:
    cluster.start_runs(RUNS)
    cluster.wait_mid_way(cluster.workers[0])
    some_run = cluster.run_ids[0]
    for round_ in range(2):
        cut = cluster.db.terminate_backends()
        assert cut > 0
        # Right after the cut, both servers answer reads and writes.
        for client in cluster.clients:
            for resp in (
                client.get(f"/api/workflows/runs/{some_run}"),
                client.get(f"/api/workflows/{cluster.workflow_id}/runs", params={"limit": 5}),
                cluster.start_run(client),
            ):
                assert resp.status_code < 300, (
                    f"round {round_}: {resp.request.method} {resp.request.url} -> "
                    f"{resp.status_code} {resp.text}{cluster.explain()}"
                )
        # Both workers reconnect and carry on.
        goal = cluster.db.completed() + 20
        leasing: set[str] = set()

        def resumed() -> bool:
            leasing.update(r.lease_owner for r in cluster.sample())  # noqa: B023
            busy = all(w.worker_id in leasing for w in cluster.workers)  # noqa: B023
            return busy and cluster.db.completed() >= goal  # noqa: B023

        cluster.wait_for(resumed, f"round {round_}: both workers claiming, steps completing")

    cluster.wait_for(cluster.all_finished, "every run finished")
    cluster.assert_alive(*cluster.processes)
    assert len(cluster.run_ids) == RUNS + 4

    hits = cluster.target.snapshot()
    # A worker that lost its connection may lose a lease too (the step runs again, as a new
    # attempt); nothing else may fail and nothing completed may run again.
    cluster.check(_completed_once(cluster, cluster.attempts(), hits))
