"""Every step type the worker runs, end to end through the HTTP API."""

from __future__ import annotations

import hashlib
import hmac
import json
from pathlib import Path
from typing import Any

import pytest

from flowdeck.engine.steps.script import DISABLED_MESSAGE
from flowdeck.store.store import Store
from tests.integration.conftest import Api
from tests.integration.runs_helpers import (
    RUNS,
    attempts,
    create_workflow,
    current,
    failing,
    get_run,
    http_peer,
    outputs,
    run_to_end,
    serve,
    settings_for,
    start_run,
    statuses,
    transform,
    wait,
    wait_for_run,
)
from tests.unit.step_helpers import Reply

# -- transform -------------------------------------------------------------------------------


async def test_transform_renders_values_and_keeps_native_types(api: Api) -> None:
    definition = {
        "name": "Transform",
        "inputs": [{"name": "who", "type": "string"}, {"name": "nums", "type": "array"}],
        "steps": [
            transform(
                "shape",
                {
                    "greeting": "Hello {{ inputs.who }}",
                    "nums": "{{ inputs.nums }}",
                    "total": "{{ inputs.nums | sum }}",
                    "run": "{{ run.id }}",
                },
            ),
            transform("count", "{{ steps.shape.output.nums | length }}", depends_on=["shape"]),
        ],
        "outputs": [{"name": "count", "value": "{{ steps.count.output }}"}],
    }
    run = await run_to_end(api, definition, {"who": "Ada", "nums": [1, 2, 3]})
    assert run["status"] == "completed", run
    shape = current(run, "shape")
    assert shape is not None
    assert shape["output"] == {
        "greeting": "Hello Ada",
        "nums": [1, 2, 3],
        "total": 6,
        "run": run["id"],
    }
    assert shape["attempt"] == 1 and shape["type"] == "transform"
    assert run["output"] == {"count": 3}
    assert run["error"] is None
    assert run["started_at"].endswith("Z") and run["completed_at"].endswith("Z")
    assert run["duration_seconds"] is not None


# -- condition -------------------------------------------------------------------------------


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
            transform("big", "big", depends_on=["check"]),
            transform("big_after", "after big", depends_on=["big"]),
            transform("small", "small", depends_on=["check"]),
            transform(
                "join",
                "{{ steps.big.output if steps.big is defined else steps.small.output }}",
                depends_on=["big_after", "small"],
                **join,
            ),
        ],
    }
    if with_outputs:
        definition["outputs"] = [{"name": "picked", "value": "{{ steps.join.output }}"}]
    return definition


async def test_condition_skips_the_untaken_branch_and_a_none_failed_join_runs(api: Api) -> None:
    wf = await create_workflow(api, branching(trigger_rule="none_failed"))
    small = await wait_for_run(api, await start_run(api, wf, {"n": 3}))
    assert small["status"] == "completed", small
    assert statuses(small) == {
        "check": "completed",
        "big": "skipped",
        "big_after": "skipped",  # the skip propagates down the branch
        "small": "completed",
        "join": "completed",
    }
    assert outputs(small)["check"] == {"result": False, "branch": "else"}
    assert small["output"] == {"picked": "small"}

    big = await wait_for_run(api, await start_run(api, wf, {"n": 30}))
    assert big["status"] == "completed", big
    assert statuses(big)["small"] == "skipped"
    assert statuses(big)["big_after"] == "completed"
    assert outputs(big)["check"] == {"result": True, "branch": "then"}
    assert big["output"] == {"picked": "big"}


async def test_an_all_success_join_after_a_branch_is_skipped(api: Api) -> None:
    run = await run_to_end(api, branching(with_outputs=False), {"n": 3})
    # Nothing failed, but a dependency of the join was skipped: all_success skips it.
    assert run["status"] == "completed", run
    assert statuses(run)["join"] == "skipped"
    assert current(run, "join")["output"] == {"reason": "upstream did not succeed"}


# -- loop ----------------------------------------------------------------------------------


def loop_step(items: Any, body: dict[str, Any], **config: Any) -> dict[str, Any]:
    return {"id": "each", "type": "loop", "config": {"items": items, "step": body, **config}}


async def test_loop_runs_items_concurrently_and_keeps_item_order(api: Api) -> None:
    async with http_peer() as (peer, book):
        # Early items answer last, so completion order is the reverse of item order.
        for i in range(6):
            book[f"/item/{i}"] = Reply(body={"i": i}, delay=0.05 * (6 - i))
        definition = {
            "name": "Loop",
            "inputs": [{"name": "n", "type": "integer"}],
            "steps": [
                transform("make", "{{ range(inputs.n) | list }}"),
                {
                    **loop_step(
                        "steps.make.output",
                        {
                            "type": "http_request",
                            "config": {"url": peer.url("/item/{{ loop.item }}")},
                        },
                        concurrency=3,
                    ),
                    "depends_on": ["make"],
                },
                transform(
                    "sum",
                    "{{ steps.each.output | map(attribute='body.i') | sum }}",
                    depends_on=["each"],
                ),
            ],
            "outputs": [{"name": "bodies", "value": "{{ steps.each.output }}"}],
        }
        run = await run_to_end(api, definition, {"n": 6})
    assert run["status"] == "completed", run
    assert [o["body"] for o in run["output"]["bodies"]] == [{"i": i} for i in range(6)]
    assert outputs(run)["sum"] == 15
    iterations = sorted(
        (s for s in run["step_runs"] if s["loop_step_id"] == "each"),
        key=lambda s: s["item_index"],
    )
    assert [s["step_id"] for s in iterations] == [f"each[{i}]" for i in range(6)]
    assert all(s["status"] == "completed" and s["type"] == "http_request" for s in iterations)
    assert sorted(r.path for r in peer.requests) == sorted(f"/item/{i}" for i in range(6))


async def test_loop_over_a_literal_list_with_loop_index(api: Api) -> None:
    body = {"type": "transform", "config": {"value": "{{ loop.index }}:{{ loop.item }}"}}
    run = await run_to_end(
        api, {"name": "Literal loop", "steps": [loop_step(["a", "b", "c"], body)]}
    )
    assert run["status"] == "completed", run
    assert outputs(run)["each"] == ["0:a", "1:b", "2:c"]


async def test_loop_over_an_empty_list_completes_with_no_iterations(api: Api) -> None:
    body = {"type": "transform", "config": {"value": "{{ loop.item }}"}}
    definition = {
        "name": "Empty loop",
        "steps": [
            loop_step("[]", body),
            transform("after", "{{ steps.each.output | length }}", depends_on=["each"]),
        ],
    }
    run = await run_to_end(api, definition)
    assert run["status"] == "completed", run
    assert outputs(run) == {"each": [], "after": 0}
    assert not [s for s in run["step_runs"] if s["loop_step_id"]]


ITEMS = [{"v": 1}, {"x": 2}, {"v": 3}, {"v": 4}]
BODY = {"type": "transform", "config": {"value": "{{ loop.item.v }}"}}


async def test_loop_fail_fast_stops_at_the_first_failed_iteration(api: Api) -> None:
    definition = {
        "name": "Fail fast",
        "steps": [
            loop_step(ITEMS, BODY, fail_fast=True),
            transform("after", 1, depends_on=["each"]),
        ],
    }
    run = await run_to_end(api, definition)
    assert run["status"] == "failed", run
    assert statuses(run) == {
        "each": "failed",
        "each[0]": "completed",
        "each[1]": "failed",
        "each[2]": "cancelled",
        "each[3]": "cancelled",
        "after": "skipped",
    }
    error = current(run, "each")["error"]
    assert error.startswith("Iteration 1 failed: Template error") and "no attribute 'v'" in error
    assert run["error"].startswith("Step 'each' failed")


async def test_loop_without_fail_fast_runs_every_iteration(api: Api) -> None:
    run = await run_to_end(
        api, {"name": "No fail fast", "steps": [loop_step(ITEMS, BODY, fail_fast=False)]}
    )
    assert run["status"] == "failed", run
    assert [statuses(run)[f"each[{i}]"] for i in range(4)] == [
        "completed",
        "failed",
        "completed",
        "completed",
    ]
    each = current(run, "each")
    assert each is not None
    assert each["error"] == "1 of 4 iterations failed"
    assert each["output"] == [1, None, 3, 4]


# -- wait ----------------------------------------------------------------------------------


async def test_wait_parks_the_run_in_waiting_and_comes_back(api: Api) -> None:
    definition = {
        "name": "Wait",
        "steps": [wait("pause", 0.3), transform("after", "done", depends_on=["pause"])],
    }
    wf = await create_workflow(api, definition)
    run_id = await start_run(api, wf)
    waiting = await wait_for_run(api, run_id, {"waiting", "completed"})
    assert waiting["status"] == "waiting", waiting
    assert statuses(waiting)["pause"] == "waiting"
    run = await wait_for_run(api, run_id)
    assert run["status"] == "completed", run
    assert outputs(run)["after"] == "done"
    assert outputs(run)["pause"]["waited_seconds"] >= 0.3
    assert len(attempts(run, "pause")) == 1  # woken, not retried


async def test_a_waiting_step_holds_no_worker(
    database_url: str, tmp_path: Path, store: Store
) -> None:
    # One step at a time on this worker: a long wait must not take the only slot.
    settings = settings_for(database_url, tmp_path, max_parallel_steps=1)
    async with serve(settings, store) as api:
        long_wf = await create_workflow(api, {"name": "Long", "steps": [wait("nap", 3600)]})
        short_wf = await create_workflow(api, {"name": "Short", "steps": [transform("t", 1)]})
        long_run = await start_run(api, long_wf)
        await wait_for_run(api, long_run, {"waiting"})
        short = await wait_for_run(api, await start_run(api, short_wf))
        assert short["status"] == "completed", short
        assert (await get_run(api, long_run))["status"] == "waiting"
        resp = await api.client.post(f"{RUNS}/{long_run}/cancel", headers=api.headers)
        assert resp.status_code == 200, resp.text


async def test_a_wait_survives_a_restart(database_url: str, tmp_path: Path, store: Store) -> None:
    settings = settings_for(database_url, tmp_path)
    definition = {
        "name": "Restart",
        "steps": [
            wait("nap", 0.5),
            transform("after", "{{ steps.nap.output }}", depends_on=["nap"]),
        ],
    }
    async with serve(settings, store) as api:
        key = api.key
        run_id = await start_run(api, await create_workflow(api, definition))
        await wait_for_run(api, run_id, {"waiting"})
    # The server is gone; another one on the same database finishes the run.
    async with serve(settings, store, key=key) as api:
        run = await wait_for_run(api, run_id)
    assert run["status"] == "completed", run
    assert [s["attempt"] for s in attempts(run, "nap")] == [1]
    assert outputs(run)["after"]["waited_seconds"] >= 0.5


# -- workflow (child runs) -------------------------------------------------------------------


async def test_workflow_step_runs_a_linked_child_and_takes_its_outputs(api: Api) -> None:
    child = await create_workflow(
        api,
        {
            "name": "Child",
            "inputs": [{"name": "x", "type": "number", "required": True}],
            "steps": [transform("double", "{{ inputs.x * 2 }}")],
            "outputs": [{"name": "doubled", "value": "{{ steps.double.output }}"}],
        },
    )
    parent = await create_workflow(
        api,
        {
            "name": "Parent",
            "steps": [
                {
                    "id": "call",
                    "type": "workflow",
                    "config": {"workflow_id": child, "input_data": {"x": 21}},
                },
                transform("use", "{{ steps.call.output.doubled + 1 }}", depends_on=["call"]),
            ],
        },
    )
    run_id = await start_run(api, parent)
    run = await wait_for_run(api, run_id)
    assert run["status"] == "completed", run
    assert outputs(run) == {"call": {"doubled": 42}, "use": 43}
    listed = (await api.client.get(f"/api/workflows/{child}/runs", headers=api.headers)).json()
    assert listed["total"] == 1
    child_run = listed["runs"][0]
    assert child_run["parent_run_id"] == run_id
    assert child_run["trigger"] == "workflow"
    assert child_run["status"] == "completed"
    assert child_run["output"] == {"doubled": 42}


async def test_a_failed_child_run_fails_the_workflow_step(api: Api) -> None:
    child = await create_workflow(api, {"name": "Bad child", "steps": [failing("boom")]})
    parent = {
        "name": "Parent of bad",
        "steps": [
            {"id": "call", "type": "workflow", "config": {"workflow_id": child}},
            transform("after", 1, depends_on=["call"]),
        ],
    }
    run = await run_to_end(api, parent)
    assert run["status"] == "failed", run
    assert statuses(run) == {"call": "failed", "after": "skipped"}
    listed = (await api.client.get(f"/api/workflows/{child}/runs", headers=api.headers)).json()
    child_run = listed["runs"][0]
    assert child_run["status"] == "failed"
    error = current(run, "call")["error"]
    assert child_run["id"] in error and "failed" in error
    assert run["error"].startswith("Step 'call' failed")


# -- http_request and webhook ----------------------------------------------------------------


async def test_http_request_calls_the_server_and_returns_its_answer(api: Api) -> None:
    async with http_peer() as (peer, book):
        book["/data"] = Reply(body={"rows": [1, 2]}, headers={"X-Extra": "yes"})
        definition = {
            "name": "HTTP",
            "inputs": [{"name": "ds", "type": "string", "default": "sales"}],
            "steps": [
                {
                    "id": "fetch",
                    "type": "http_request",
                    "config": {
                        "method": "POST",
                        "url": peer.url("/data"),
                        "params": {"ds": "{{ inputs.ds }}"},
                        "json": {"want": "{{ inputs.ds }}"},
                        "headers": {"X-Team": "ops"},
                    },
                },
                transform("n", "{{ steps.fetch.output.body.rows | length }}", depends_on=["fetch"]),
            ],
        }
        run = await run_to_end(api, definition)
    assert run["status"] == "completed", run
    fetch = outputs(run)["fetch"]
    assert fetch["status_code"] == 200
    assert fetch["body"] == {"rows": [1, 2]}
    assert fetch["headers"]["x-extra"] == "yes"
    assert outputs(run)["n"] == 2
    [request] = peer.requests
    assert request.method == "POST" and request.query == [("ds", "sales")]
    assert json.loads(request.body) == {"want": "sales"}
    assert request.headers["x-team"] == "ops"
    assert request.headers["idempotency-key"] == f"{run['id']}:fetch"


async def test_webhook_signs_its_payload_and_a_non_2xx_fails_it(api: Api) -> None:
    async with http_peer() as (peer, book):
        book["/hook"] = Reply(body={"ok": True})
        book["/broken"] = Reply(status=400, body={"error": "nope"})
        definition = {
            "name": "Hooks",
            "steps": [
                {
                    "id": "hook",
                    "type": "webhook",
                    "config": {
                        "url": peer.url("/hook"),
                        "payload": {"text": "run {{ run.id }}"},
                        "secret": "s3cret",
                    },
                },
                {
                    "id": "broken",
                    "type": "webhook",
                    "config": {"url": peer.url("/broken"), "payload": {"a": 1}},
                    "depends_on": ["hook"],
                },
            ],
        }
        run = await run_to_end(api, definition)
    assert run["status"] == "failed", run
    assert outputs(run)["hook"] == {"status_code": 200, "body": {"ok": True}}
    hook_request = next(r for r in peer.requests if r.path == "/hook")
    assert hook_request.method == "POST"
    assert json.loads(hook_request.body) == {"text": f"run {run['id']}"}
    digest = hmac.new(b"s3cret", hook_request.body, hashlib.sha256).hexdigest()
    assert hook_request.headers["x-flowdeck-signature"] == f"sha256={digest}"
    assert hook_request.headers["idempotency-key"] == f"{run['id']}:hook"
    broken = current(run, "broken")
    assert broken is not None and broken["status"] == "failed"
    assert "HTTP 400" in broken["error"]
    assert broken["output"]["status_code"] == 400
    assert run["error"].startswith("Step 'broken' failed: HTTP 400")


# -- script ----------------------------------------------------------------------------------

PYTHON = """
import json, os, sys
context = json.load(sys.stdin)
print("working")
db = os.environ.get("FLOWDECK_DATABASE_URL")
greeting = os.environ["GREETING"]
print(json.dumps({"double": context["inputs"]["n"] * 2, "db": db, "greeting": greeting}))
"""


async def test_python_and_bash_scripts(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    # The server's environment never reaches a script.
    monkeypatch.setenv("FLOWDECK_DATABASE_URL", "postgresql://server-only")
    definition = {
        "name": "Scripts",
        "inputs": [{"name": "n", "type": "integer", "required": True}],
        "steps": [
            {
                "id": "py",
                "type": "script",
                "config": {"language": "python", "code": PYTHON, "env": {"GREETING": "hi"}},
            },
            {
                "id": "sh",
                "type": "script",
                "config": {
                    "language": "bash",
                    "code": 'echo "to stderr" >&2\necho \'{"shell": true}\'',
                },
            },
            {
                "id": "bad",
                "type": "script",
                "config": {"language": "bash", "code": "echo oops >&2; exit 3"},
                "depends_on": ["py", "sh"],
            },
        ],
    }
    run = await run_to_end(api, definition, {"n": 21})
    py, sh = outputs(run)["py"], outputs(run)["sh"]
    assert py["result"] == {"double": 42, "db": None, "greeting": "hi"}
    assert py["stdout"].startswith("working") and py["exit_code"] == 0
    assert sh == {
        "result": {"shell": True},
        "stdout": '{"shell": true}\n',
        "stderr": "to stderr\n",
        "exit_code": 0,
    }
    assert run["status"] == "failed"
    bad = current(run, "bad")
    assert bad is not None and bad["error"] == "Script exited with code 3: oops"
    assert bad["output"]["exit_code"] == 3


async def test_scripts_can_be_switched_off(database_url: str, tmp_path: Path, store: Store) -> None:
    async with serve(settings_for(database_url, tmp_path, allow_scripts=False), store) as api:
        definition = {
            "name": "No scripts",
            "steps": [
                {"id": "py", "type": "script", "config": {"language": "python", "code": "print(1)"}}
            ],
        }
        run = await run_to_end(api, definition)
    assert run["status"] == "failed", run
    assert current(run, "py")["error"] == DISABLED_MESSAGE
    assert run["error"] == f"Step 'py' failed: {DISABLED_MESSAGE}"
