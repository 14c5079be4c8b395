"""Declared step costs are charged when steps complete; the run sums them."""

from __future__ import annotations

from tests.integration.conftest import Api
from tests.integration.runs_helpers import run_to_end, transform


async def test_declared_costs_add_up_on_the_run(api: Api) -> None:
    definition = {
        "name": "Priced",
        "steps": [
            transform("a", 1, cost=1.5),
            transform("b", 2, cost=0.25, depends_on=["a"]),
            {
                "id": "skipped",
                "type": "transform",
                "config": {"value": 3},
                "cost": 10,
                "when": "false",
            },
        ],
    }
    run = await run_to_end(api, definition)
    assert run["status"] == "completed"
    assert run["cost"] == 1.75  # the skipped step is not charged
    by_step = {s["step_id"]: s["cost"] for s in run["step_runs"]}
    assert by_step == {"a": 1.5, "b": 0.25, "skipped": 0.0}
