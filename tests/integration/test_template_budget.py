"""Templates under their budget, through the engine and the HTTP API (SPEC §9)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from flowdeck.store.store import Store
from tests.integration.conftest import Api
from tests.integration.runs_helpers import (
    current,
    run_to_end,
    serve,
    settings_for,
    statuses,
    transform,
)

NESTED_LOOPS = "{% for i in range(20000) %}{% for j in range(2000) %}{% endfor %}{% endfor %}"
REPEATED_JOIN = "{% set a = 'x' * 9999999 %}{{ ([a] * 40)|join|length }}"
# Each `in` scans 20,000 items: about 100 µs an iteration, so 100,000 iterations run for
# seconds while staying far below the iteration budget.
SLOW_LOOP = (
    "{% set l = range(20000)|list %}"
    "{% for i in range(100000) %}{% if -1 in l %}{% endif %}{% endfor %}done"
)
TOO_BIG = "('x' * 9999999)|length > 0"
ONE_VALUE = "template exceeded its budget of 1,048,576 bytes for one value"


def _seconds(step: dict[str, Any]) -> float:
    started = datetime.fromisoformat(step["started_at"].replace("Z", "+00:00"))
    ended = datetime.fromisoformat(step["completed_at"].replace("Z", "+00:00"))
    return (ended - started).total_seconds()


async def test_the_reviewers_templates_fail_their_steps_with_the_budget_sentence(api: Api) -> None:
    definition = {
        "name": "Budget busters",
        "steps": [transform("loops", NESTED_LOOPS), transform("repeat", REPEATED_JOIN)],
    }
    run = await run_to_end(api, definition)
    assert run["status"] == "failed"
    loops, repeat = current(run, "loops"), current(run, "repeat")
    assert loops["status"] == "failed" and repeat["status"] == "failed"
    assert loops["error"].startswith("Template error: ")
    assert loops["error"].endswith(": template exceeded its budget of 1,000,000 loop iterations")
    assert repeat["error"].endswith(f"{ONE_VALUE} (it tried to build about 9,999,999)")
    # A budget failure is the template's own: a retry could not help.
    assert len([s for s in run["step_runs"] if s["step_id"] == "loops"]) == 1


async def test_a_steps_timeout_bounds_its_template_work(api: Api) -> None:
    slow = transform("slow", SLOW_LOOP, timeout_seconds=1)
    run = await run_to_end(api, {"name": "Slow template", "steps": [slow]})
    assert run["status"] == "failed"
    step = current(run, "slow")
    assert step["error"] == "Step timed out after 1s"
    assert _seconds(step) < 3  # 1 s and slack; unbudgeted it blocked the server ~15 s


async def test_guards_conditions_and_loop_items_obey_the_budget(api: Api) -> None:
    definition = {
        "name": "Expressions",
        "steps": [
            transform("guarded", 1, when=TOO_BIG),
            {"id": "branch", "type": "condition", "config": {"expression": TOO_BIG}},
            {
                "id": "each",
                "type": "loop",
                "config": {
                    "items": "[('x' * 600000)] * 3",
                    "step": {"type": "transform", "config": {"value": 1}},
                },
            },
        ],
    }
    run = await run_to_end(api, definition)
    assert run["status"] == "failed"
    assert statuses(run) == {"guarded": "failed", "branch": "failed", "each": "failed"}
    for step_id in ("guarded", "branch", "each"):
        error = current(run, step_id)["error"]
        assert error.startswith("Expression error: ") and ONE_VALUE in error, error


async def test_run_outputs_obey_the_budget(api: Api) -> None:
    definition = {
        "name": "Outputs",
        "steps": [transform("a", 1)],
        "outputs": [
            {"name": "fine", "value": "{{ steps.a.output + 1 }}"},
            {"name": "big", "value": REPEATED_JOIN},
        ],
    }
    run = await run_to_end(api, definition)
    assert run["status"] == "failed"
    assert run["error"].startswith("Could not compute output 'big': ")
    assert ONE_VALUE in run["error"]


async def test_the_settings_set_the_budget(store: Store, database_url: str, tmp_path: Path) -> None:
    settings = settings_for(
        database_url,
        tmp_path,
        template_max_iterations=1000,
        template_max_output_bytes=2048,
        template_timeout_seconds=0.5,
    )
    # Eight scans of 50,000 items an iteration: slow, yet within the other limits.
    scans = " or ".join(f"-{n} in inputs.l" for n in range(1, 9))
    definition = {
        "name": "Small budget",
        "inputs": [{"name": "l", "type": "array"}],
        "steps": [
            transform("loop", "{% for i in range(2000) %}{% endfor %}"),
            transform("text", "{% for i in range(900) %}{{ i }}xx{% endfor %}"),
            transform(
                "slow", f"{{% for i in range(900) %}}{{% if {scans} %}}{{% endif %}}{{% endfor %}}"
            ),
            transform("fine", "{% for i in range(900) %}{% endfor %}{{ 'x' * 2000 }}"),
        ],
    }
    async with serve(settings, store) as api:
        run = await run_to_end(api, definition, {"l": list(range(50_000))})
    errors = {s["step_id"]: s["error"] for s in run["step_runs"] if s["current"]}
    assert errors["loop"].endswith("template exceeded its budget of 1,000 loop iterations")
    assert errors["text"].endswith("template output exceeded its budget of 2,048 bytes")
    assert errors["slow"].endswith("template took longer than 0.5 s of CPU time")
    assert errors["fine"] is None
    assert current(run, "fine")["output"] == "x" * 2000
