"""Trigger rules and `when` guards decide which steps run after failures and skips."""

from __future__ import annotations

from tests.integration.conftest import Api
from tests.integration.runs_helpers import (
    current,
    failing,
    outputs,
    run_to_end,
    statuses,
    transform,
)


async def test_after_a_failure_all_success_and_none_failed_skip_and_all_done_cleans_up(
    api: Api,
) -> None:
    definition = {
        "name": "Rules after failure",
        "steps": [
            transform("ok", "fine"),
            failing("bad"),
            transform("strict", 1, depends_on=["ok", "bad"]),
            transform("lenient", 1, depends_on=["ok", "bad"], trigger_rule="none_failed"),
            transform(
                "cleanup",
                "{{ steps.ok.output }} and cleaned",
                depends_on=["ok", "bad"],
                trigger_rule="all_done",
            ),
            transform("after_cleanup", "{{ steps.cleanup.output }}!", depends_on=["cleanup"]),
            transform("after_strict", 1, depends_on=["strict"], trigger_rule="all_done"),
        ],
    }
    run = await run_to_end(api, definition)
    assert run["status"] == "failed", run
    assert statuses(run) == {
        "ok": "completed",
        "bad": "failed",
        "strict": "skipped",
        "lenient": "skipped",
        "cleanup": "completed",
        "after_cleanup": "completed",
        "after_strict": "completed",  # all_done runs after a skipped dependency too
    }
    assert outputs(run)["after_cleanup"] == "fine and cleaned!"
    assert run["error"].startswith("Step 'bad' failed: Template error")
    bad = current(run, "bad")
    assert bad is not None and "no element 5" in bad["error"]


async def test_when_false_skips_and_dependents_follow_their_rules(api: Api) -> None:
    definition = {
        "name": "Guards",
        "inputs": [{"name": "go", "type": "boolean", "default": False}],
        "steps": [
            transform("guarded", "ran", when="inputs.go"),
            transform("open", "ran", when="not inputs.go"),
            transform("strict", 1, depends_on=["guarded"]),
            transform("strict_chain", 1, depends_on=["strict"]),
            transform("join", 1, depends_on=["guarded", "open"], trigger_rule="none_failed"),
            transform("only_skipped", 1, depends_on=["guarded"], trigger_rule="none_failed"),
            transform("always", 1, depends_on=["guarded"], trigger_rule="all_done"),
        ],
    }
    run = await run_to_end(api, definition)
    assert run["status"] == "completed", run
    assert statuses(run) == {
        "guarded": "skipped",
        "open": "completed",
        "strict": "skipped",
        "strict_chain": "skipped",
        "join": "completed",
        "only_skipped": "skipped",  # none_failed needs at least one completed dependency
        "always": "completed",
    }
    assert current(run, "guarded")["output"] == {"reason": "when condition was false"}
    assert run["error"] is None

    run = await run_to_end(api, {**definition, "name": "Guards 2"}, {"go": True})
    assert run["status"] == "completed", run
    assert statuses(run)["guarded"] == "completed"
    assert statuses(run)["open"] == "skipped"
    assert statuses(run)["strict_chain"] == "completed"
    assert outputs(run)["guarded"] == "ran"


async def test_when_can_read_upstream_outputs(api: Api) -> None:
    definition = {
        "name": "Guard on output",
        "steps": [
            transform("count", 3),
            transform("many", "yes", depends_on=["count"], when="steps.count.output > 2"),
            transform("few", "yes", depends_on=["count"], when="steps.count.output <= 2"),
        ],
    }
    run = await run_to_end(api, definition)
    assert run["status"] == "completed", run
    assert statuses(run) == {"count": "completed", "many": "completed", "few": "skipped"}
