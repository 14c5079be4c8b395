"""P4: what raw `sqlite3` can commit on Flowdeck's own schema, as a ceiling for the engine.

Two models, each a plain loop over the stdlib `sqlite3` module (no SQLAlchemy, no asyncio),
WAL and synchronous=NORMAL and foreign_keys=ON like Flowdeck, `BEGIN IMMEDIATE` … `COMMIT`,
on a database migrated with Flowdeck's own Alembic history (same tables, same indexes):

* `step` (the headline ceiling, the issue's model): one transaction per step holding the three
  writes every finished step needs: UPDATE the step row to completed, append one event (bump
  runs.event_seq with RETURNING, INSERT into run_events) and UPDATE the run's counter row
  (steps_remaining − 1, RETURNING). Rows are created beforehand, outside the timing.
* `run` (every row write a 3-step chain makes, timed end to end): per run one start transaction
  (INSERT the run, queued → running, INSERT its 3 step rows, set steps_remaining, run_started
  event), then per step one transaction: claim (ready → running with a lease), step_started
  event, finish (running → completed), step_completed event, counters, and either the
  dependent's counters plus pending → ready, or — after the last step — the run's
  running → completed and the run_completed event.

Neither model does the engine's reads (claim candidates, get_run, outputs for templates).
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from flowdeck.store.migrate import upgrade

STEPS_PER_RUN = 3
WORKER = "bench-worker"

Loop = Callable[[sqlite3.Connection, int], None]


@dataclass(frozen=True)
class Ceiling:
    """Steps per second one model reached (best of its repeats)."""

    model: str
    steps: int
    steps_per_s: float


def _stamp() -> str:
    # SQLAlchemy stores naive UTC datetimes on SQLite in this text form.
    return datetime.now(UTC).replace(tzinfo=None).isoformat(sep=" ")


def _connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None)  # we issue BEGIN/COMMIT ourselves
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA foreign_keys=ON")
    conn.execute("PRAGMA busy_timeout=10000")
    return conn


def _seed_workflow(conn: sqlite3.Connection) -> None:
    now = _stamp()
    definition = json.dumps({"name": "ceiling", "steps": []})
    conn.execute("BEGIN IMMEDIATE")
    conn.execute(
        "INSERT INTO workspaces (id, slug, name, created_at) VALUES ('ws', 'default', 'D', ?)",
        (now,),
    )
    conn.execute(
        "INSERT INTO workflows (id, workspace_id, slug, name, tags, status, trigger_type,"
        " visibility, version, definition, created_at, updated_at)"
        " VALUES ('wf', 'ws', 'ceiling', 'ceiling', '[]', 'active', 'manual', 'private', 1, ?,"
        " ?, ?)",
        (definition, now, now),
    )
    conn.execute(
        "INSERT INTO workflow_versions (workflow_id, version, definition, change_summary,"
        " created_at) VALUES ('wf', 1, ?, 'created', ?)",
        (definition, now),
    )
    conn.execute("COMMIT")


_INSERT_RUN = (
    'INSERT INTO runs (id, workspace_id, workflow_id, workflow_version, status, "trigger",'
    " input_data, cost, event_seq, steps_remaining, steps_failed, created_at, started_at)"
    " VALUES (?, 'ws', 'wf', 1, ?, 'api', '{}', 0.0, 0, ?, 0, ?, ?)"
)
_INSERT_STEP = (
    "INSERT INTO step_runs (id, run_id, step_id, step_type, attempt, is_current, status, cost,"
    " deps_remaining, n_completed, n_failed, n_skipped, available_at, lease_owner, created_at)"
    " VALUES (?, ?, ?, 'transform', 1, 1, ?, 0.0, ?, 0, 0, 0, ?, ?, ?)"
)
_FINISH = (
    "UPDATE step_runs SET status = 'completed', output = ?, completed_at = ?, lease_owner = NULL,"
    " lease_expires_at = NULL WHERE id = ? AND status IN ('running') AND lease_owner = ?"
)
_SEQ = "UPDATE runs SET event_seq = event_seq + 1 WHERE id = ? RETURNING event_seq"
_EVENT = "INSERT INTO run_events (run_id, seq, type, data, created_at) VALUES (?, ?, ?, ?, ?)"
_COUNTERS = (
    "UPDATE runs SET steps_remaining = steps_remaining - 1, steps_failed = steps_failed + 0,"
    " cost = cost + 0.0 WHERE id = ? RETURNING steps_remaining, steps_failed"
)
_CLAIM = (
    "UPDATE step_runs SET status = 'running', lease_owner = ?, lease_expires_at = ?,"
    " started_at = coalesce(started_at, ?) WHERE id IN (?) AND status = 'ready' RETURNING *"
)
_DEPENDENTS = (
    "UPDATE step_runs SET deps_remaining = deps_remaining - 1, n_completed = n_completed + 1,"
    " n_failed = n_failed + 0, n_skipped = n_skipped + 0 WHERE run_id = ? AND step_id IN (?)"
    " AND is_current = 1 AND status = 'pending'"
    " RETURNING id, step_id, deps_remaining, n_completed, n_failed, n_skipped"
)
_READY = (
    "UPDATE step_runs SET status = 'ready', available_at = ? WHERE id IN (?)"
    " AND status IN ('pending') RETURNING id"
)
_RUN_STATUS = "UPDATE runs SET status = ?, {extra} WHERE id = ? AND status IN ({sources})"


def _event(conn: sqlite3.Connection, run_id: str, kind: str, data: dict[str, object]) -> None:
    now = _stamp()
    seq = conn.execute(_SEQ, (run_id,)).fetchone()[0]
    payload = json.dumps({"run_id": run_id, **data, "timestamp": now})
    conn.execute(_EVENT, (run_id, seq, kind, payload, now))


def _seed_running_steps(conn: sqlite3.Connection, runs: int) -> None:
    """The `step` model's untimed setup: runs with their steps already running."""
    now = _stamp()
    conn.execute("BEGIN IMMEDIATE")
    for r in range(runs):
        run_id = f"run_{r:06d}"
        conn.execute(_INSERT_RUN, (run_id, "running", STEPS_PER_RUN, now, now))
        for s in range(STEPS_PER_RUN):
            conn.execute(
                _INSERT_STEP, (f"sr_{r:06d}_{s}", run_id, f"s{s}", "running", 0, now, WORKER, now)
            )
    conn.execute("COMMIT")


def _timed_step_model(conn: sqlite3.Connection, runs: int) -> None:
    for r in range(runs):
        run_id = f"run_{r:06d}"
        for s in range(STEPS_PER_RUN):
            step_run_id = f"sr_{r:06d}_{s}"
            conn.execute("BEGIN IMMEDIATE")
            conn.execute(_FINISH, (json.dumps(s), _stamp(), step_run_id, WORKER))
            _event(conn, run_id, "step_completed", {"step_id": f"s{s}", "attempt": 1, "output": s})
            conn.execute(_COUNTERS, (run_id,)).fetchone()
            conn.execute("COMMIT")


def _timed_run_model(conn: sqlite3.Connection, runs: int) -> None:
    start_run = _RUN_STATUS.format(extra="started_at = ?", sources="'queued'")
    finish_run = _RUN_STATUS.format(
        extra="completed_at = ?, output = ?", sources="'running', 'waiting'"
    )
    for r in range(runs):
        run_id = f"run_{r:06d}"
        now = _stamp()
        conn.execute("BEGIN IMMEDIATE")
        conn.execute(_INSERT_RUN, (run_id, "queued", 0, now, None))
        conn.execute(start_run, ("running", now, run_id))
        conn.executemany(
            _INSERT_STEP,
            [
                (
                    f"sr_{r:06d}_{s}",
                    run_id,
                    f"s{s}",
                    "ready" if s == 0 else "pending",
                    0 if s == 0 else 1,
                    now if s == 0 else None,
                    None,
                    now,
                )
                for s in range(STEPS_PER_RUN)
            ],
        )
        conn.execute(
            "UPDATE runs SET steps_remaining = ?, steps_failed = 0 WHERE id = ?",
            (STEPS_PER_RUN, run_id),
        )
        _event(conn, run_id, "run_started", {"workflow_id": "wf", "trigger": "api"})
        conn.execute("COMMIT")
        for s in range(STEPS_PER_RUN):
            step_run_id = f"sr_{r:06d}_{s}"
            now = _stamp()
            conn.execute("BEGIN IMMEDIATE")
            conn.execute(_CLAIM, (WORKER, now, now, step_run_id)).fetchall()
            _event(conn, run_id, "step_started", {"step_id": f"s{s}", "attempt": 1})
            conn.execute(_FINISH, (json.dumps(s), now, step_run_id, WORKER))
            _event(conn, run_id, "step_completed", {"step_id": f"s{s}", "attempt": 1, "output": s})
            conn.execute(_COUNTERS, (run_id,)).fetchone()
            if s + 1 < STEPS_PER_RUN:
                rows = conn.execute(_DEPENDENTS, (run_id, f"s{s + 1}")).fetchall()
                conn.execute(_READY, (now, rows[0][0])).fetchall()
            else:
                conn.execute(finish_run, ("completed", now, "null", run_id))
                _event(conn, run_id, "run_completed", {"status": "completed"})
            conn.execute("COMMIT")


def measure(runs: int, repeats: int = 3) -> list[Ceiling]:
    """Both models, each the best of `repeats` passes on fresh copies of a migrated database."""
    with tempfile.TemporaryDirectory(prefix="flowdeck-ceiling-") as tmp:
        template = Path(tmp) / "template.db"
        upgrade(f"sqlite:///{template}")
        results = []
        models: dict[str, tuple[Loop | None, Loop]] = {
            "step": (_seed_running_steps, _timed_step_model),
            "run": (None, _timed_run_model),
        }
        for model, (setup, timed) in models.items():
            best = 0.0
            for i in range(repeats):
                path = Path(tmp) / f"{model}-{i}.db"
                shutil.copy(template, path)
                conn = _connect(path)
                try:
                    _seed_workflow(conn)
                    if setup is not None:
                        setup(conn, runs)
                    start = time.perf_counter()
                    timed(conn, runs)
                    elapsed = time.perf_counter() - start
                finally:
                    conn.close()
                best = max(best, runs * STEPS_PER_RUN / elapsed)
            results.append(Ceiling(model=model, steps=runs * STEPS_PER_RUN, steps_per_s=best))
        return results
