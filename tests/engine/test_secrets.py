"""`{{ secrets.NAME }}` reaches the step that asks for it and is masked everywhere it is stored:
step outputs, errors, events, run outputs."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from tests.engine.defs import transform
from tests.engine.harness import Engine
from tests.support.peer import HttpPeer, Reply

TOKEN = "tok-9f8e7d6c5b4a"


async def stored(engine: Engine, run_id: str) -> str:
    """Everything stored about a run (the run, every attempt, every event) as one text."""
    run, _ = await engine.run(run_id)
    rows: list[Any] = [run, *await engine.attempts(run_id), *await engine.event_log(run_id)]
    return json.dumps([dataclasses.asdict(r) for r in rows], default=str)


async def test_secret_is_sent_but_never_stored(engine: Engine, peer: HttpPeer) -> None:
    await engine.services.admin.put_secret(engine.principal, "API_TOKEN", TOKEN)
    peer.replies["/echo"] = Reply(status=200, body={"seen": TOKEN})
    wf = await engine.workflow(
        {
            "name": "Uses a secret",
            "steps": [
                {
                    "id": "call",
                    "type": "http_request",
                    "config": {
                        "url": peer.url("/echo"),
                        "headers": {"Authorization": "Bearer {{ secrets.API_TOKEN }}"},
                    },
                },
                transform("leak", "token={{ secrets.API_TOKEN }}", "call"),
            ],
            "outputs": [{"name": "leak", "value": "{{ steps.leak.output }}"}],
        }
    )
    run_id = await engine.start(wf)
    await engine.run_until_idle()
    assert peer.requests[0].headers["authorization"] == f"Bearer {TOKEN}"
    run, steps = await engine.run(run_id)
    assert run.status == "completed"
    everything = await stored(engine, run_id)
    assert TOKEN not in everything
    assert run.output == {"leak": "token=***"}
    assert steps["call"].output["body"] == {"seen": "***"}
    events = json.dumps([e.data for e in await engine.event_log(run_id)])
    assert TOKEN not in events and "***" in events


async def test_secret_in_an_error_is_masked(engine: Engine) -> None:
    await engine.services.admin.put_secret(engine.principal, "DB_PASSWORD", "hunter2-very-secret")
    wf = await engine.workflow(
        {
            "name": "Fails loudly",
            "steps": [
                {
                    "id": "boom",
                    "type": "script",
                    "config": {
                        "language": "bash",
                        "code": 'echo "password is $PW" >&2; exit 1',
                        "env": {"PW": "{{ secrets.DB_PASSWORD }}"},
                    },
                }
            ],
        }
    )
    run_id = await engine.start(wf)
    await engine.run_until_idle()
    run, steps = await engine.run(run_id)
    assert run.status == "failed"
    assert "hunter2-very-secret" not in await stored(engine, run_id)
    assert "password is ***" in steps["boom"].error


async def test_secrets_are_per_workspace_and_unknown_names_fail(engine: Engine) -> None:
    await engine.services.admin.put_secret(engine.principal, "ONLY_HERE", "value-of-default-ws")
    other = await engine.workspace("other")
    wf = await engine.workflow(
        {"name": "Reads a secret", "steps": [transform("t", "{{ secrets.ONLY_HERE }}")]},
        principal=other,
    )
    run_id = await engine.start(wf, principal=other)
    await engine.run_until_idle()
    run, steps = await engine.run(run_id, principal=other)
    assert run.status == "failed"
    assert "ONLY_HERE" in steps["t"].error
    assert "value-of-default-ws" not in json.dumps(dataclasses.asdict(run), default=str)
