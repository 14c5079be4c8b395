"""Step types that compute or call out: transform, http_request, webhook, script."""

from __future__ import annotations

import hashlib
import hmac
import json
from pathlib import Path

import pytest

from flowdeck.engine.steps.script import DISABLED_MESSAGE
from tests.engine.defs import transform
from tests.engine.harness import Engine, engine_on
from tests.support.peer import HttpPeer, Reply


async def test_transform_renders_values_and_keeps_native_types(engine: Engine) -> None:
    wf = await engine.workflow(
        {
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
                transform("count", "{{ steps.shape.output.nums | length }}", "shape"),
            ],
            "outputs": [{"name": "count", "value": "{{ steps.count.output }}"}],
        }
    )
    run_id = await engine.start(wf, {"who": "Ada", "nums": [1, 2, 3]})
    await engine.run_until_idle()
    run, steps = await engine.run(run_id)
    assert run.status == "completed", run
    shape = steps["shape"]
    assert shape.output == {"greeting": "Hello Ada", "nums": [1, 2, 3], "total": 6, "run": run_id}
    assert shape.attempt == 1 and shape.step_type == "transform"
    assert run.output == {"count": 3}
    assert run.error is None
    assert run.started_at is not None and run.completed_at is not None


async def test_http_request_calls_the_server_and_returns_its_answer(
    engine: Engine, peer: HttpPeer
) -> None:
    peer.replies["/data"] = Reply(body={"rows": [1, 2]}, headers={"X-Extra": "yes"})
    wf = await engine.workflow(
        {
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
                transform("n", "{{ steps.fetch.output.body.rows | length }}", "fetch"),
            ],
        }
    )
    run_id = await engine.start(wf)
    await engine.run_until_idle()
    run, steps = await engine.run(run_id)
    assert run.status == "completed", run
    fetch = steps["fetch"].output
    assert fetch["status_code"] == 200
    assert fetch["body"] == {"rows": [1, 2]}
    assert fetch["headers"]["x-extra"] == "yes"
    assert steps["n"].output == 2
    [request] = peer.requests
    assert request.method == "POST" and request.query == [("ds", "sales")]
    assert json.loads(request.body) == {"want": "sales"}
    assert request.headers["x-team"] == "ops"
    assert request.headers["idempotency-key"] == f"{run_id}:fetch"


async def test_webhook_signs_its_payload_and_a_non_2xx_fails_it(
    engine: Engine, peer: HttpPeer
) -> None:
    peer.replies["/hook"] = Reply(body={"ok": True})
    peer.replies["/broken"] = Reply(status=400, body={"error": "nope"})
    wf = await engine.workflow(
        {
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
    )
    run_id = await engine.start(wf)
    await engine.run_until_idle()
    run, steps = await engine.run(run_id)
    assert run.status == "failed", run
    assert steps["hook"].output == {"status_code": 200, "body": {"ok": True}}
    hook_request = next(r for r in peer.requests if r.path == "/hook")
    assert hook_request.method == "POST"
    assert json.loads(hook_request.body) == {"text": f"run {run_id}"}
    digest = hmac.new(b"s3cret", hook_request.body, hashlib.sha256).hexdigest()
    assert hook_request.headers["x-flowdeck-signature"] == f"sha256={digest}"
    assert hook_request.headers["idempotency-key"] == f"{run_id}:hook"
    broken = steps["broken"]
    assert broken.status == "failed"
    assert broken.error is not None and "HTTP 400" in broken.error
    assert broken.output["status_code"] == 400
    assert run.error is not None and run.error.startswith("Step 'broken' failed: HTTP 400")


PYTHON = """
import json, os, sys
context = json.load(sys.stdin)
print("working")
db = os.environ.get("FLOWDECK_DATABASE_URL")
greeting = os.environ["GREETING"]
print(json.dumps({"double": context["inputs"]["n"] * 2, "db": db, "greeting": greeting}))
"""


async def test_python_and_bash_scripts(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    # The server's environment never reaches a script.
    monkeypatch.setenv("FLOWDECK_DATABASE_URL", "postgresql://server-only")
    wf = await engine.workflow(
        {
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
    )
    run_id = await engine.start(wf, {"n": 21})
    await engine.run_until_idle()
    run, steps = await engine.run(run_id)
    py, sh = steps["py"].output, steps["sh"].output
    assert py["result"] == {"double": 42, "db": None, "greeting": "hi"}
    assert py["stdout"].startswith("working") and py["exit_code"] == 0
    assert sh == {
        "result": {"shell": True},
        "stdout": '{"shell": true}\n',
        "stderr": "to stderr\n",
        "exit_code": 0,
    }
    assert run.status == "failed"
    assert steps["bad"].error == "Script exited with code 3: oops"
    assert steps["bad"].output["exit_code"] == 3


async def test_scripts_can_be_switched_off(database_url: str, tmp_path: Path) -> None:
    async with engine_on(database_url, tmp_path / "data", allow_scripts=False) as engine:
        wf = await engine.workflow(
            {
                "name": "No scripts",
                "steps": [
                    {
                        "id": "py",
                        "type": "script",
                        "config": {"language": "python", "code": "print(1)"},
                    }
                ],
            }
        )
        run_id = await engine.start(wf)
        await engine.run_until_idle()
        run, steps = await engine.run(run_id)
    assert run.status == "failed", run
    assert steps["py"].error == DISABLED_MESSAGE
    assert run.error == f"Step 'py' failed: {DISABLED_MESSAGE}"
