"""`flowdeck.Client` and `flowdeck.AsyncClient` against a real `flowdeck serve`."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

import flowdeck
from flowdeck import errors
from flowdeck.client.errors import (
    ConnectionFailed,
    ProblemAnswer,
    UnexpectedAnswer,
    WaitTimedOut,
)
from tests.e2e.shared_server import Shared, shared_server
from tests.support.peer import free_port
from tests.support.tcp_proxy import CuttableProxy

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("client_e2e"), pytest.mark.timeout(120)]


def transform(step_id: str, value: Any, *deps: str) -> dict[str, Any]:
    return {
        "id": step_id,
        "type": "transform",
        "config": {"value": value},
        "depends_on": list(deps),
    }


def gate(name: str) -> dict[str, Any]:
    return {
        "name": name,
        "steps": [
            {"id": "review", "type": "approval", "config": {"message": "Ship it?"}},
            transform("ship", "{{ steps.review.output.approved }}", "review"),
        ],
    }


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory, database_template: str) -> Iterator[Shared]:
    with shared_server(tmp_path_factory.mktemp("client"), database_template) as s:
        yield s


@pytest.fixture
def client(shared: Shared) -> Iterator[flowdeck.Client]:
    with flowdeck.Client(shared.url, shared.key, timeout=20) as c:
        yield c


def test_apply_creates_then_updates_on_the_slug_and_says_what_changed(
    client: flowdeck.Client, tmp_path: Path
) -> None:
    spec = tmp_path / "wf.yaml"
    spec.write_text(
        "name: Nightly report\nslug: nightly\ntags: [reports]\n"
        "steps:\n  - {id: a, type: transform, config: {value: 1}}\n"
    )
    first = client.workflows.apply(spec)
    assert first.created and first.workflow.slug == "nightly" and first.workflow.version == 1
    assert first.workflow.tags == ["reports"]

    # Renamed, retagged, a new step: still the same workflow, found by its slug.
    spec.write_text(
        "name: Nightly summary\nslug: nightly\ntags: [reports, daily]\ntrigger_type: webhook\n"
        "steps:\n  - {id: a, type: transform, config: {value: 2}}\n"
    )
    second = client.workflows.apply(str(spec))
    assert not second.created and second.workflow.id == first.workflow.id
    assert second.previous_version == 1 and second.workflow.version == 2
    assert second.changed == ["definition", "name", "tags", "trigger_type"]
    assert second.workflow.name == "Nightly summary"

    again = client.workflows.apply(spec)
    assert again.unchanged and again.workflow.version == 2
    names = [w.name for w in client.workflows.list(q="Nightly").items]
    assert names == ["Nightly summary"]


def test_apply_without_a_slug_finds_the_one_derived_at_creation(client: flowdeck.Client) -> None:
    doc = {"name": "Fetch and Notify!", "steps": [transform("a", 1)]}
    created = client.workflows.apply(doc)
    assert created.created and created.workflow.slug == "fetch-and-notify"
    doc["steps"] = [transform("a", 2)]
    updated = client.workflows.apply(doc)
    assert updated.workflow.id == created.workflow.id and updated.changed == ["definition"]


def test_apply_rejects_a_file_that_does_not_parse_or_validate(
    client: flowdeck.Client, tmp_path: Path
) -> None:
    spec = tmp_path / "bad.yaml"
    spec.write_text("name: [unclosed\n")
    with pytest.raises(errors.InvalidInput):
        client.workflows.apply(spec)
    with pytest.raises(errors.InvalidInput) as invalid:
        client.workflows.apply({"name": "Broken", "steps": [{"id": "a", "type": "nope"}]})
    assert any("unknown type" in e for e in invalid.value.errors)


def test_workflows_create_get_list_delete(client: flowdeck.Client) -> None:
    wf = client.workflows.create(
        {"name": "Crud", "steps": [transform("a", 1)]}, tags=["x"], slug="crud"
    )
    assert (wf.slug, wf.version, wf.tags) == ("crud", 1, ["x"])
    got = client.workflows.get("crud")
    assert got.id == wf.id and got.definition is not None
    assert got.definition["steps"][0]["id"] == "a"
    assert "permissions" in got.extra  # fields the shape does not name are kept
    assert wf.id in {w.id for w in client.workflows.list(tag="x").items}
    updated = client.workflows.update("crud", description="now described")
    assert updated.description == "now described"
    deleted = client.workflows.delete("crud")
    assert deleted.id == wf.id and deleted.purge_at
    with pytest.raises(errors.NotFound):
        client.workflows.get("crud")


def test_a_run_started_waited_for_and_listed(client: flowdeck.Client) -> None:
    wf = client.workflows.create(
        {
            "name": "Sums",
            "inputs": [{"name": "n", "type": "number"}],
            "steps": [transform("a", "{{ inputs.n + 1 }}")],
            "outputs": [{"name": "n", "value": "{{ steps.a.output }}"}],
        }
    )
    started = client.runs.start(wf.slug, {"n": 41}, idempotency_key="sums-1")
    same = client.runs.start(wf.slug, {"n": 41}, idempotency_key="sums-1")
    assert same.run_id == started.run_id
    run = client.runs.wait(started.run_id, timeout=30)
    assert run.status == "completed" and run.ended and run.output == {"n": 42}
    assert [s.step_id for s in run.current_steps()] == ["a"]
    assert run.step_runs[0].output == 42 and run.workflow_version == 1
    page = client.runs.list(wf.slug, status="completed")
    assert [r.id for r in page.items] == [started.run_id]


def test_approvals_wait_timeout_approve_reject_cancel(client: flowdeck.Client) -> None:
    wf = client.workflows.create(gate("Gate client"))
    first = client.runs.start(wf.id).run_id
    with pytest.raises(WaitTimedOut) as timed_out:
        client.runs.wait(first, timeout=0.5)
    assert timed_out.value.run.status in ("queued", "running", "waiting")

    def waiting() -> set[str]:
        return {a.run_id for a in client.approvals.list(wf.id).items}

    _until(lambda: first in waiting())
    pending = next(a for a in client.approvals.list(wf.id).items if a.run_id == first)
    assert pending.step_id == "review" and pending.message == "Ship it?"
    decision = client.approvals.approve(first, "review", "looks good")
    assert decision.approved and decision.comment == "looks good"
    assert client.runs.wait(first, timeout=30).output is None
    assert client.runs.get(first).step_runs[-1].output is True
    with pytest.raises(errors.Conflict) as twice:
        client.approvals.reject(first, "review")
    assert twice.value.problem.status == 409 and "already decided" in twice.value.detail

    second = client.runs.start(wf.id).run_id
    _until(lambda: second in waiting())
    assert not client.approvals.reject(second, "review", "no").approved
    assert client.runs.wait(second, timeout=30).status == "failed"

    third = client.runs.start(wf.id).run_id
    _until(lambda: third in waiting())
    assert client.runs.cancel(third).status == "cancelled"


def test_resume_on_the_latest_version(client: flowdeck.Client) -> None:
    broken = {
        "name": "Fixable",
        "steps": [transform("a", 1), transform("b", "{{ steps.a.output.missing }}", "a")],
    }
    wf = client.workflows.create(broken)
    run_id = client.runs.start(wf.id).run_id
    failed = client.runs.wait(run_id, timeout=30)
    assert failed.status == "failed"
    fixed = {"name": "Fixable", "steps": [transform("a", 1), transform("b", "fixed", "a")]}
    assert client.workflows.update(wf.id, definition=fixed).version == 2
    resumed = client.runs.resume(run_id, from_step="b", version="latest")
    assert resumed.workflow_version == 2
    done = client.runs.wait(run_id, timeout=30)
    assert done.status == "completed"
    assert {s.step_id: s.output for s in done.current_steps()} == {"a": 1, "b": "fixed"}


def test_events_resume_after_the_connection_drops(shared: Shared) -> None:
    waits = [{"id": f"w{i}", "type": "wait", "config": {"seconds": 0.5}} for i in range(4)]
    for i in range(1, 4):
        waits[i]["depends_on"] = [f"w{i - 1}"]
    port = int(shared.url.rsplit(":", 1)[1])
    proxy = CuttableProxy("127.0.0.1", port)
    try:
        with flowdeck.Client(proxy.url, shared.key, timeout=20) as client:
            wf = client.workflows.create({"name": "Slow waits", "steps": waits})
            run_id = client.runs.start(wf.id).run_id
            seen = []
            for event in client.runs.events(run_id):
                seen.append(event)
                if len(seen) == 2:
                    assert proxy.cut() >= 1  # the stream's connection, mid-run
        assert proxy.connections >= 2  # the stream connected again after the cut
    finally:
        proxy.close()
    seqs = [e.seq for e in seen]
    assert seqs == list(range(1, len(seqs) + 1))  # nothing missed, nothing twice
    assert seen[0].type == "run_started" and seen[-1].type == "run_completed"
    assert sum(e.type == "step_completed" for e in seen) == 4


def test_events_after_a_sequence_number_and_of_an_ended_run(client: flowdeck.Client) -> None:
    wf = client.workflows.create(
        {"name": "Two steps", "steps": [transform("a", 1), transform("b", 2, "a")]}
    )
    run_id = client.runs.start(wf.id).run_id
    client.runs.wait(run_id, timeout=30)
    everything = list(client.runs.events(run_id))
    assert everything[-1].type == "run_completed"
    later = list(client.runs.events(run_id, after=everything[1].seq))
    assert later == everything[2:]


def test_problems_become_the_error_families(shared: Shared, client: flowdeck.Client) -> None:
    with pytest.raises(errors.NotFound) as missing:
        client.runs.get("run_missing")
    assert isinstance(missing.value, ProblemAnswer)
    assert missing.value.problem.code == "not_found" and missing.value.problem.status == 404
    client.workflows.create({"name": "Taken", "steps": [transform("a", 1)]})
    with pytest.raises(errors.Conflict):
        client.workflows.create({"name": "Taken", "steps": [transform("a", 1)]})
    with pytest.raises(errors.InvalidInput) as invalid:
        client.workflows.create(
            {"name": "Cycle", "steps": [transform("a", 1, "b"), transform("b", 1, "a")]}
        )
    assert invalid.value.problem.errors and "Cycle" in invalid.value.errors[0]
    with flowdeck.Client(shared.url, "fdk_wrong") as stranger, pytest.raises(errors.Unauthorized):
        stranger.workflows.list()
    reader = shared.make_key("workflows:read")
    with flowdeck.Client(shared.url, reader) as read_only:
        assert read_only.workflows.get("taken").name == "Taken"
        with pytest.raises(errors.Forbidden) as forbidden:
            read_only.runs.start("taken")
    assert "workflows:run" in forbidden.value.detail


def test_no_server_and_not_a_server() -> None:
    nobody = flowdeck.Client(f"http://127.0.0.1:{free_port()}", "k")
    with nobody, pytest.raises(ConnectionFailed) as failed:
        nobody.workflows.list()
    assert "Cannot reach" in failed.value.detail

    class Html(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = b"<html>a login page</html>"
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    page = HTTPServer(("127.0.0.1", 0), Html)
    threading.Thread(target=page.serve_forever, daemon=True).start()
    try:
        proxy_page = flowdeck.Client(f"http://127.0.0.1:{page.server_port}", "k")
        with proxy_page, pytest.raises(UnexpectedAnswer):
            proxy_page.workflows.list()
    finally:
        page.shutdown()
        page.server_close()


def test_environment_gives_the_server_and_key(
    shared: Shared, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FLOWDECK_SERVER", shared.url)
    monkeypatch.setenv("FLOWDECK_API_KEY", shared.key)
    with flowdeck.Client() as client:
        assert client.whoami()["workspace"]["slug"] == "default"


def test_schedules_of_a_workflow(shared: Shared, client: flowdeck.Client) -> None:
    wf = client.workflows.create({"name": "Scheduled", "steps": [transform("a", 1)]})
    headers = {"Authorization": f"Bearer {shared.key}"}
    body = {"cron_expression": "0 9 * * 1-5", "timezone": "Europe/Paris"}
    made = httpx.post(f"{shared.url}/api/workflows/{wf.id}/schedules", json=body, headers=headers)
    assert made.status_code == 201
    [schedule] = client.schedules.list(wf.slug).items
    assert (schedule.cron_expression, schedule.timezone) == ("0 9 * * 1-5", "Europe/Paris")
    assert schedule.next_run_at and schedule.workflow_id == wf.id


def test_apply_reconciles_the_schedules_a_file_lists(
    shared: Shared, client: flowdeck.Client
) -> None:
    headers = {"Authorization": f"Bearer {shared.key}"}
    if httpx.get(f"{shared.url}/api/schema/workflow.json", headers=headers).status_code == 404:
        pytest.skip("this server does not take schedules in a definition file yet")
    doc: dict[str, Any] = {
        "name": "Reconciled",
        "slug": "reconciled",
        "schedules": [{"cron": "0 9 * * 1-5", "timezone": "Europe/Paris"}, {"cron": "0 0 1 * *"}],
        "steps": [transform("a", 1)],
    }
    first = client.workflows.apply(doc)
    assert first.schedules_added == ["0 0 1 * * (UTC)", "0 9 * * 1-5 (Europe/Paris)"]
    doc["schedules"] = [{"cron": "0 9 * * 1-5", "timezone": "Europe/Paris"}, {"cron": "30 6 * * *"}]
    second = client.workflows.apply(doc)
    assert second.schedules_added == ["30 6 * * * (UTC)"]
    assert second.schedules_removed == ["0 0 1 * * (UTC)"]
    assert second.workflow.id == first.workflow.id
    crons = {s.cron_expression for s in client.schedules.list("reconciled").items}
    assert crons == {"0 9 * * 1-5", "30 6 * * *"}
    everywhere = {s.workflow_id for s in client.schedules.list().items}  # GET /api/schedules
    assert first.workflow.id in everywhere


def test_workspace_wide_runs(client: flowdeck.Client) -> None:
    wf = client.workflows.create({"name": "Everywhere", "steps": [transform("a", 1)]})
    run_id = client.runs.start(wf.id).run_id
    client.runs.wait(run_id, timeout=30)
    try:
        page = client.runs.list(status="completed", trigger="api", limit=200)
    except errors.NotFound as exc:
        if exc.detail == "No such endpoint":
            pytest.skip("this server has no GET /api/runs yet")
        raise
    assert run_id in {r.id for r in page.items}
    assert all(r.status == "completed" for r in page.items)


async def test_the_async_client(shared: Shared) -> None:
    async with flowdeck.AsyncClient(shared.url, shared.key) as client:
        applied = await client.workflows.apply({"name": "Async one", "steps": [transform("a", 7)]})
        assert applied.created
        run_id = (await client.runs.start(applied.workflow.slug, idempotency_key="a-1")).run_id
        types = [e.type async for e in client.runs.events(run_id)]
        assert types[0] == "run_started" and types[-1] == "run_completed"
        run = await client.runs.wait(run_id, timeout=30)
        assert run.step_runs[0].output == 7
        assert [r.id for r in (await client.runs.list(applied.workflow.id)).items] == [run_id]
        gated = await client.workflows.create(gate("Gate async"))
        waiting = (await client.runs.start(gated.id)).run_id
        with pytest.raises(WaitTimedOut):
            await client.runs.wait(waiting, timeout=0.3)
        await _auntil(client, waiting)
        assert (await client.approvals.approve(waiting, "review")).approved
        assert (await client.runs.wait(waiting, timeout=30)).status == "completed"
        with pytest.raises(errors.NotFound):
            await client.workflows.get("no-such-workflow")
        assert (await client.workflows.delete(gated.id)).id == gated.id
        plan = await client.runs.plan(applied.workflow.id)
        assert plan["valid"] is True


def _until(check: Any, timeout: float = 20.0) -> None:
    import time

    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.1)


async def _auntil(client: flowdeck.AsyncClient, run_id: str) -> None:
    import asyncio

    for _ in range(200):
        if run_id in {a.run_id for a in (await client.approvals.list()).items}:
            return
        await asyncio.sleep(0.1)
    raise AssertionError("the run never waited for its approval")
