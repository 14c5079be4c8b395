"""Resume: what runs again (what did not complete, or a step and its descendants), on the
outputs kept from before."""

from __future__ import annotations

from tests.engine.defs import http_get, transform, wait
from tests.engine.harness import Engine
from tests.support.peer import HttpPeer, Reply


async def test_resume_reruns_only_what_did_not_complete(engine: Engine, peer: HttpPeer) -> None:
    peer.replies["/a"] = Reply(body="A")
    peer.then("/b", Reply(status=400, body="no"), Reply(body="B"))
    wf = await engine.workflow(
        {
            "name": "Checkpoint",
            "steps": [
                http_get("a", peer.url("/a")),
                http_get("b", peer.url("/b"), "a"),
                transform("c", "{{ steps.a.output.body }}{{ steps.b.output.body }}", "b"),
                transform("side", "{{ steps.a.output.body }}!", "a"),
            ],
        }
    )
    run_id = await engine.start(wf)
    await engine.run_until_idle()
    failed, steps = await engine.run(run_id)
    assert failed.status == "failed", failed
    assert {sid: s.status for sid, s in steps.items()} == {
        "a": "completed",
        "b": "failed",
        "c": "skipped",
        "side": "completed",
    }
    await engine.services.runs.resume(engine.principal, run_id, None)
    await engine.run_until_idle()
    assert peer.calls == {"/a": 1, "/b": 2}
    run, steps = await engine.run(run_id)
    assert run.status == "completed", run
    assert run.error is None
    assert steps["c"].output == "AB"

    async def tries(step_id: str) -> list[tuple[int, str]]:
        return [(s.attempt, s.status) for s in await engine.attempts(run_id, step_id)]

    assert await tries("a") == [(1, "completed")]
    assert await tries("side") == [(1, "completed")]
    assert await tries("b") == [(1, "failed"), (2, "completed")]
    assert await tries("c") == [(1, "skipped"), (2, "completed")]


async def test_a_resumed_step_renders_from_the_kept_upstream_outputs(
    engine: Engine, peer: HttpPeer
) -> None:
    peer.replies["/a"] = Reply(body="A")
    peer.then("/b", Reply(body="B1"), Reply(body="B2"))
    peer.then("/c", Reply(status=400), Reply(body="C"))
    wf = await engine.workflow(
        {
            "name": "From step",
            "steps": [
                http_get("a", peer.url("/a")),
                http_get("b", peer.url("/b?from={{ steps.a.output.body }}"), "a"),
                http_get("c", peer.url("/c"), "b"),
                transform("d", "{{ steps.b.output.body }}-{{ steps.c.output.body }}", "c"),
            ],
            "outputs": [{"name": "d", "value": "{{ steps.d.output }}"}],
        }
    )
    run_id = await engine.start(wf)
    await engine.run_until_idle()
    assert await engine.status(run_id) == "failed"
    await engine.services.runs.resume(engine.principal, run_id, "b")
    await engine.run_until_idle()
    assert peer.calls == {"/a": 1, "/b": 2, "/c": 2}
    assert [r.query for r in peer.requests if r.path == "/b"] == [[("from", "A")]] * 2
    run, _ = await engine.run(run_id)
    assert run.status == "completed", run
    assert run.output == {"d": "B2-C"}
    assert [s.attempt for s in await engine.attempts(run_id, "a")] == [1]
    b_tries = await engine.attempts(run_id, "b")
    assert [(s.attempt, s.status, s.is_current) for s in b_tries] == [
        (1, "completed", False),
        (2, "completed", True),
    ]
    assert [s.attempt for s in await engine.attempts(run_id, "c")] == [1, 2]
    assert [s.attempt for s in await engine.attempts(run_id, "d")] == [1, 2]


async def test_resume_a_cancelled_run(engine: Engine) -> None:
    wf = await engine.workflow(
        {"name": "Cancel then resume", "steps": [transform("a", 1), wait("nap", 3600, "a")]}
    )
    run_id = await engine.start(wf)
    await engine.run_until_idle()
    await engine.services.runs.cancel(engine.principal, run_id)
    await engine.services.runs.resume(engine.principal, run_id, None)
    await engine.run_until_idle()
    assert await engine.status(run_id) == "waiting"
    assert [s.attempt for s in await engine.attempts(run_id, "a")] == [1]
    nap = await engine.attempts(run_id, "nap")
    assert [(s.attempt, s.status) for s in nap] == [(1, "cancelled"), (2, "waiting")]
