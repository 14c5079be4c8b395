"""A run's own status as its steps come and go: `running`, `waiting`, or queued for a slot."""

from __future__ import annotations

from flowdeck.domain.states import RunStatus, StepStatus
from flowdeck.engine.txn import Txn

R, S = RunStatus, StepStatus


async def requeue_waiting(t: Txn, run_id: str) -> None:
    """A `waiting` run has steps to execute again: it queues for a slot like any run.

    A waiting run holds no slot of the run limits, so it must not simply go back to
    `running`; admission puts it there when the limits allow (it is first in line).
    """
    if await t.tx.move_run(run_id, R.QUEUED, only_from=[R.WAITING]):
        t.fx.admit = True
        t.fx.runs_touched.add(run_id)


async def maybe_waiting(t: Txn, run_id: str) -> None:
    """A running run with nothing ready or running, but something waiting, is `waiting`."""
    if await t.tx.run_has_steps_in(run_id, (S.READY, S.RUNNING)):
        return
    if await t.tx.run_has_steps_in(run_id, (S.WAITING,)):
        await t.tx.move_run(run_id, R.WAITING, only_from=[R.RUNNING])
