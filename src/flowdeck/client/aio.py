"""`flowdeck.AsyncClient`: a Flowdeck server's API from asyncio (the same resources as
`flowdeck.Client`, each method awaited; `runs.events` is an async iterator)."""

from __future__ import annotations

import asyncio
import builtins
import time
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx
from httpx_sse import SSEError, aconnect_sse

from flowdeck.client import apply as applying
from flowdeck.client import calls
from flowdeck.client.errors import NotFoundAnswer, UnexpectedAnswer, WaitTimedOut
from flowdeck.client.shapes import (
    Applied,
    Approval,
    Decision,
    Deleted,
    Page,
    Run,
    RunEvent,
    Schedule,
    StartedRun,
    Workflow,
    build,
    page_of,
)
from flowdeck.client.wire import (
    STREAM_ERRORS,
    Connection,
    StreamPosition,
    acheck_stream_answer,
    connection_failed,
    object_answer,
    read_answer,
    request_options,
    stream_timeout,
)


class AsyncClient:
    """A Flowdeck server: `AsyncClient(base_url, api_key)`, else FLOWDECK_SERVER and
    FLOWDECK_API_KEY. Use as an async context manager, or await `aclose()`."""

    def __init__(
        self,
        base_url: str | None = None,
        api_key: str | None = None,
        *,
        timeout: float = 30.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.connection = Connection.resolve(base_url, api_key, timeout)
        self.http = httpx.AsyncClient(transport=transport, **self.connection.client_options())
        self.workflows = Workflows(self)
        self.runs = Runs(self)
        self.approvals = Approvals(self)
        self.schedules = Schedules(self)

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the connections."""
        await self.http.aclose()

    async def _request(self, call: calls.Call) -> httpx.Response:
        try:
            return await self.http.request(call.method, call.path, **request_options(call))
        except httpx.TransportError as exc:
            raise connection_failed(self.connection.base_url, exc) from exc

    async def send(self, call: calls.Call) -> Any:
        """Send one call; its JSON answer, or the error family of the problem."""
        return read_answer(await self._request(call))

    async def send_for_object(self, call: calls.Call) -> dict[str, Any]:
        """`send` for routes that answer an object."""
        return object_answer(await self._request(call))

    async def whoami(self) -> dict[str, Any]:
        """The key's workspace."""
        return await self.send_for_object(calls.whoami())


class Workflows:
    """`client.workflows`."""

    def __init__(self, client: AsyncClient) -> None:
        self.client = client

    async def list(
        self,
        *,
        status: str | None = None,
        tag: str | None = None,
        q: str | None = None,
        cursor: str | None = None,
        limit: int = 50,
    ) -> Page[Workflow]:
        """One page of workflows, newest first (`Page.items` are `Workflow`s)."""
        call = calls.list_workflows(status=status, tag=tag, q=q, cursor=cursor, limit=limit)
        body = await self.client.send_for_object(call)
        return page_of(Workflow, body, "workflows")

    async def get(self, workflow: str) -> Workflow:
        """One workflow by id or slug, with its definition."""
        return build(Workflow, await self.client.send_for_object(calls.get_workflow(workflow)))

    async def create(self, definition: Mapping[str, Any] | str, **fields: Any) -> Workflow:
        """A new workflow from a definition (a mapping, or YAML/JSON text); `fields` are
        `slug`, `tags`, `trigger_type`, `visibility`, `description`…"""
        given = definition if isinstance(definition, str) else dict(definition)
        body = {"definition": given, **fields}
        answer = await self.client.send_for_object(calls.create_workflow(body))
        return build(Workflow, answer.get("workflow", answer))

    async def update(self, workflow: str, **changes: Any) -> Workflow:
        """Change any subset (`definition`, `tags`…); a new definition makes a new version."""
        return build(
            Workflow, await self.client.send_for_object(calls.update_workflow(workflow, changes))
        )

    async def delete(
        self, workflow: str, *, permanent: bool = False, cascade: bool = False
    ) -> Deleted:
        """Move to the trash (or, an admin with `permanent`, delete for good)."""
        call = calls.delete_workflow(workflow, permanent=permanent, cascade=cascade)
        return build(Deleted, await self.client.send_for_object(call))

    async def apply(self, source: str | Path | Mapping[str, Any]) -> Applied:
        """Create the workflow a file or mapping defines, or update it; matched on `slug`."""
        doc = applying.load_document(source)
        slug = applying.target(doc)
        with_schedules = "schedules" in doc
        try:
            before: Workflow | None = await self.get(slug)
        except NotFoundAnswer:
            before = None
        old = await self.client.schedules.all(slug) if before and with_schedules else []
        if before is None:
            answer = await self.client.send_for_object(
                calls.create_workflow(applying.create_body(doc))
            )
            after = build(Workflow, answer.get("workflow", answer))
        else:
            call = calls.update_workflow(before.id, applying.update_body(doc))
            after = build(Workflow, await self.client.send_for_object(call))
        new = await self.client.schedules.all(after.id) if with_schedules else []
        added, removed = applying.schedule_changes(old, new)
        changed = applying.changed_fields(before, after) if before else []
        version = before.version if before else None
        return Applied(after, before is None, version, changed, added, removed)


class Runs:
    """`client.runs`."""

    def __init__(self, client: AsyncClient) -> None:
        self.client = client

    async def start(
        self,
        workflow: str,
        input_data: Mapping[str, Any] | None = None,
        *,
        idempotency_key: str | None = None,
        trigger: str = "api",
    ) -> StartedRun:
        """Start a run (the same `idempotency_key` answers the same run)."""
        call = calls.start_run(
            workflow, dict(input_data or {}), trigger=trigger, idempotency_key=idempotency_key
        )
        return build(StartedRun, await self.client.send_for_object(call))

    async def plan(
        self, workflow: str, input_data: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        """A dry run: the plan by level, estimated cost and duration; nothing runs."""
        call = calls.start_run(
            workflow, dict(input_data or {}), trigger="api", idempotency_key=None, dry_run=True
        )
        return await self.client.send_for_object(call)

    async def get(self, run_id: str) -> Run:
        """A run with every attempt of every step."""
        return build(Run, (await self.client.send_for_object(calls.get_run(run_id))).get("run"))

    async def list(
        self,
        workflow: str | None = None,
        *,
        status: str | None = None,
        trigger: str | None = None,
        since: str | None = None,
        until: str | None = None,
        cursor: str | None = None,
        limit: int = 50,
    ) -> Page[Run]:
        """One page of runs, newest first (`Page.items` are `Run`s); a workflow's own when
        only it is given, else the workspace's (`GET /api/runs`)."""
        if workflow is not None and trigger is None and since is None and until is None:
            call = calls.list_workflow_runs(workflow, status=status, cursor=cursor, limit=limit)
        else:
            call = calls.list_runs(
                workflow=workflow,
                status=status,
                trigger=trigger,
                since=since,
                until=until,
                cursor=cursor,
                limit=limit,
            )
        body = await self.client.send_for_object(call)
        return page_of(Run, body, "runs")

    async def wait(
        self,
        run_id: str,
        timeout: float = 300.0,  # noqa: ASYNC109 (the same signature as Client.runs.wait)
        *,
        poll: float = 1.0,
    ) -> Run:
        """The run once it has ended; WaitTimedOut (with the run as last seen) after `timeout`."""
        deadline = time.monotonic() + timeout
        pause = 0.05
        while True:
            run = await self.get(run_id)
            left = deadline - time.monotonic()
            if run.ended:
                return run
            if left <= 0:
                raise WaitTimedOut(
                    f"Run '{run_id}' is still {run.status} after {timeout:g} seconds", run
                )
            await asyncio.sleep(min(pause, left))
            pause = min(pause * 2, poll)

    async def cancel(self, run_id: str) -> Run:
        """Cancel an active run."""
        return build(Run, (await self.client.send_for_object(calls.cancel_run(run_id))).get("run"))

    async def resume(
        self, run_id: str, *, from_step: str | None = None, version: int | str | None = None
    ) -> Run:
        """Resume a failed or paused run, from a step, on its version or `version`
        (a number, or "latest")."""
        call = calls.resume_run(run_id, from_step=from_step, version=version)
        return build(Run, (await self.client.send_for_object(call)).get("run"))

    async def events(self, run_id: str, *, after: int = 0) -> AsyncIterator[RunEvent]:
        """The run's events from the start (or after `after`), live until its final one;
        a dropped connection is resumed with `Last-Event-ID`, missing nothing."""
        position = StreamPosition(after)
        timeout = stream_timeout(self.client.connection)
        path = calls.run_stream(run_id).path
        while True:
            try:
                async with aconnect_sse(
                    self.client.http, "GET", path, headers=position.headers(), timeout=timeout
                ) as source:
                    await acheck_stream_answer(source.response)
                    position.connected()
                    async for sse in source.aiter_sse():
                        event = position.take(sse)
                        if event is not None:
                            yield event
                if position.ended_cleanly():
                    return
            except SSEError as exc:
                raise UnexpectedAnswer(
                    f"The run's stream is not Server-Sent Events: {exc}"
                ) from exc
            except STREAM_ERRORS as exc:
                await asyncio.sleep(position.broke(self.client.connection.base_url, exc))


class Approvals:
    """`client.approvals`."""

    def __init__(self, client: AsyncClient) -> None:
        self.client = client

    async def list(
        self, workflow: str | None = None, *, cursor: str | None = None, limit: int = 50
    ) -> Page[Approval]:
        """Approval steps waiting for a decision, oldest first (`Page.items`: `Approval`s)."""
        call = calls.list_approvals(workflow=workflow, cursor=cursor, limit=limit)
        body = await self.client.send_for_object(call)
        return page_of(Approval, body, "approvals")

    async def approve(self, run_id: str, step_id: str, comment: str | None = None) -> Decision:
        """Approve a waiting approval step."""
        call = calls.decide(run_id, step_id, approve=True, comment=comment)
        return build(Decision, await self.client.send_for_object(call))

    async def reject(self, run_id: str, step_id: str, comment: str | None = None) -> Decision:
        """Reject a waiting approval step."""
        call = calls.decide(run_id, step_id, approve=False, comment=comment)
        return build(Decision, await self.client.send_for_object(call))


class Schedules:
    """`client.schedules`."""

    def __init__(self, client: AsyncClient) -> None:
        self.client = client

    async def list(
        self, workflow: str | None = None, *, cursor: str | None = None, limit: int = 50
    ) -> Page[Schedule]:
        """One page of a workflow's schedules (or the workspace's, `GET /api/schedules`)."""
        body = await self.client.send_for_object(
            calls.list_schedules(workflow, cursor=cursor, limit=limit)
        )
        return page_of(Schedule, body, "schedules")

    async def all(self, workflow: str) -> builtins.list[Schedule]:
        """Every schedule of a workflow, across pages."""
        found: builtins.list[Schedule] = []
        cursor: str | None = None
        while True:
            page = await self.list(workflow, cursor=cursor, limit=200)
            found.extend(page.items)
            cursor = page.next_cursor
            if not cursor or not page.items:
                return found
