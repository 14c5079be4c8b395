"""Which steps run: condition branches, trigger rules after failures and skips, `when` guards,
and run outputs that read a step on an untaken branch."""

from __future__ import annotations

from typing import Any

from tests.engine.defs import failing, transform
from tests.engine.harness import Engine


def branching(*, with_outputs: bool = True, **join: Any) -> dict[str, Any]:
    definition: dict[str, Any] = {
        "name": "Branching",
        "inputs": [{"name": "n", "type": "number", "required": True}],
        "steps": [
            {
                "id": "check",
                "type": "condition",
                "config": {"expression": "inputs.n > 10", "then": ["big"], "else": ["small"]},
            },
            transform("big", "big", "check"),
            transform("big_after", "after big", "big"),
            transform("small", "small", "check"),
            transform(
                "join",
                "{{ steps.big.output if steps.big is defined else steps.small.output }}",
                "big_after",
                "small",
                **join,
            ),
        ],
    }
    if with_outputs:
        definition["outputs"] = [{"name": "picked", "value": "{{ steps.join.output }}"}]
    return definition


async def finished(engine: Engine, wf: str, inputs: dict[str, Any] | None = None) -> Any:
    """Run `wf` to its end; the run and its current steps."""
    run_id = await engine.start(wf, inputs)
    await engine.run_until_idle()
    return await engine.run(run_id)


def statuses(steps: dict[str, Any]) -> dict[str, str]:
    return {sid: str(s.status) for sid, s in steps.items()}


async def test_condition_skips_the_untaken_branch_and_a_none_failed_join_runs(
    engine: Engine,
) -> None:
    wf = await engine.workflow(branching(trigger_rule="none_failed"))
    small, steps = await finished(engine, wf, {"n": 3})
    assert small.status == "completed", small
    assert statuses(steps) == {
        "check": "completed",
        "big": "skipped",
        "big_after": "skipped",  # the skip propagates down the branch
        "small": "completed",
        "join": "completed",
    }
    assert steps["check"].output == {"result": False, "branch": "else"}
    assert small.output == {"picked": "small"}

    big, steps = await finished(engine, wf, {"n": 30})
    assert big.status == "completed", big
    assert steps["small"].status == "skipped"
    assert steps["big_after"].status == "completed"
    assert steps["check"].output == {"result": True, "branch": "then"}
    assert big.output == {"picked": "big"}


async def test_an_all_success_join_after_a_branch_is_skipped(engine: Engine) -> None:
    run, steps = await finished(
        engine, await engine.workflow(branching(with_outputs=False)), {"n": 3}
    )
    # Nothing failed, but a dependency of the join was skipped: all_success skips it.
    assert run.status == "completed", run
    assert steps["join"].status == "skipped"
    assert steps["join"].output == {"reason": "upstream did not succeed"}


async def test_after_a_failure_all_success_and_none_failed_skip_and_all_done_cleans_up(
    engine: Engine,
) -> None:
    wf = await engine.workflow(
        {
            "name": "Rules after failure",
            "steps": [
                transform("ok", "fine"),
                failing("bad"),
                transform("strict", 1, "ok", "bad"),
                transform("lenient", 1, "ok", "bad", trigger_rule="none_failed"),
                transform(
                    "cleanup",
                    "{{ steps.ok.output }} and cleaned",
                    "ok",
                    "bad",
                    trigger_rule="all_done",
                ),
                transform("after_cleanup", "{{ steps.cleanup.output }}!", "cleanup"),
                transform("after_strict", 1, "strict", trigger_rule="all_done"),
            ],
        }
    )
    run, steps = await finished(engine, wf)
    assert run.status == "failed", run
    assert statuses(steps) == {
        "ok": "completed",
        "bad": "failed",
        "strict": "skipped",
        "lenient": "skipped",
        "cleanup": "completed",
        "after_cleanup": "completed",
        "after_strict": "completed",  # all_done runs after a skipped dependency too
    }
    assert steps["after_cleanup"].output == "fine and cleaned!"
    assert run.error.startswith("Step 'bad' failed: Template error")
    assert "no element 5" in steps["bad"].error


async def test_when_false_skips_and_dependents_follow_their_rules(engine: Engine) -> None:
    definition = {
        "name": "Guards",
        "inputs": [{"name": "go", "type": "boolean", "default": False}],
        "steps": [
            transform("guarded", "ran", when="inputs.go"),
            transform("open", "ran", when="not inputs.go"),
            transform("strict", 1, "guarded"),
            transform("strict_chain", 1, "strict"),
            transform("join", 1, "guarded", "open", trigger_rule="none_failed"),
            transform("only_skipped", 1, "guarded", trigger_rule="none_failed"),
            transform("always", 1, "guarded", trigger_rule="all_done"),
        ],
    }
    wf = await engine.workflow(definition)
    run, steps = await finished(engine, wf)
    assert run.status == "completed", run
    assert statuses(steps) == {
        "guarded": "skipped",
        "open": "completed",
        "strict": "skipped",
        "strict_chain": "skipped",
        "join": "completed",
        "only_skipped": "skipped",  # none_failed needs at least one completed dependency
        "always": "completed",
    }
    assert steps["guarded"].output == {"reason": "when condition was false"}
    assert run.error is None

    run, steps = await finished(engine, wf, {"go": True})
    assert run.status == "completed", run
    assert steps["guarded"].status == "completed"
    assert steps["open"].status == "skipped"
    assert steps["strict_chain"].status == "completed"
    assert steps["guarded"].output == "ran"


async def test_when_can_read_upstream_outputs(engine: Engine) -> None:
    wf = await engine.workflow(
        {
            "name": "Guard on output",
            "steps": [
                transform("count", 3),
                transform("many", "yes", "count", when="steps.count.output > 2"),
                transform("few", "yes", "count", when="steps.count.output <= 2"),
            ],
        }
    )
    run, steps = await finished(engine, wf)
    assert run.status == "completed", run
    assert statuses(steps) == {"count": "completed", "many": "completed", "few": "skipped"}


async def test_output_of_an_untaken_branch_is_null(engine: Engine) -> None:
    wf = await engine.workflow(
        {
            "name": "Branch 5",
            "steps": [
                {
                    "id": "check",
                    "type": "condition",
                    "config": {"expression": "5 > 10", "then": ["big"], "else": ["small"]},
                },
                transform("big", {"text": "big one"}, "check"),
                transform("small", {"text": "small one"}, "check"),
            ],
            "outputs": [
                {"name": "big", "value": "{{ steps.big.output.text }}"},
                {"name": "small", "value": "{{ steps.small.output.text }}"},
            ],
        }
    )
    run, _ = await finished(engine, wf)
    assert run.status == "completed"
    assert run.output == {"big": None, "small": "small one"}


async def test_a_broken_output_fails_the_run_with_its_name(engine: Engine) -> None:
    wf = await engine.workflow(
        {
            "name": "Broken output",
            "steps": [transform("a", {"x": 1})],
            "outputs": [{"name": "missing", "value": "{{ steps.a.output.nope }}"}],
        }
    )
    run, _ = await finished(engine, wf)
    assert run.status == "failed"
    assert "Could not compute output 'missing'" in run.error
