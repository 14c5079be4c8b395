"""Run outputs: rendered at the end; a step on an untaken branch gives null, not a failure."""

from __future__ import annotations

from tests.integration.conftest import Api
from tests.integration.runs_helpers import run_to_end, transform


def _branching(amount: int) -> dict[str, object]:
    return {
        "name": f"Branch {amount}",
        "steps": [
            {
                "id": "check",
                "type": "condition",
                "config": {"expression": f"{amount} > 10", "then": ["big"], "else": ["small"]},
            },
            transform("big", {"text": "big one"}, depends_on=["check"]),
            transform("small", {"text": "small one"}, depends_on=["check"]),
        ],
        "outputs": [
            {"name": "big", "value": "{{ steps.big.output.text }}"},
            {"name": "small", "value": "{{ steps.small.output.text }}"},
        ],
    }


async def test_output_of_an_untaken_branch_is_null(api: Api) -> None:
    run = await run_to_end(api, _branching(5))
    assert run["status"] == "completed"
    assert run["output"] == {"big": None, "small": "small one"}


async def test_a_broken_output_fails_the_run_with_its_name(api: Api) -> None:
    definition = {
        "name": "Broken output",
        "steps": [transform("a", {"x": 1})],
        "outputs": [{"name": "missing", "value": "{{ steps.a.output.nope }}"}],
    }
    run = await run_to_end(api, definition)
    assert run["status"] == "failed"
    assert "Could not compute output 'missing'" in run["error"]
