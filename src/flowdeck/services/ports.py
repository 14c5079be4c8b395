"""What services need from persistence; `flowdeck.store` implements it."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from datetime import datetime
from typing import Any, Protocol

from flowdeck.domain.records import (
    ApiKey,
    Page,
    Run,
    RunEvent,
    StepRun,
    Workflow,
    WorkflowFilter,
    WorkflowVersion,
    Workspace,
)
from flowdeck.engine.ports import EngineTx


class TxPort(EngineTx, Protocol):
    """One open transaction: the engine's queries plus the services' own."""

    async def insert_workspace(self, ws: Workspace) -> None: ...
    async def get_workspace(self, workspace_id: str) -> Workspace | None: ...
    async def get_workspace_by_slug(self, slug: str) -> Workspace | None: ...
    async def list_workspaces(self) -> list[Workspace]: ...
    async def count_api_keys(self) -> int: ...
    async def insert_api_key(self, key: ApiKey, key_hash: str) -> None: ...
    async def get_api_key_by_hash(self, key_hash: str) -> ApiKey | None: ...
    async def touch_api_key(self, key_id: str, now: datetime) -> None: ...
    async def list_api_keys(self, workspace_id: str) -> list[ApiKey]: ...
    async def revoke_api_key(self, workspace_id: str, key_id: str, now: datetime) -> bool: ...

    async def insert_workflow(self, wf: Workflow) -> None: ...
    async def workflow_name_taken(
        self, workspace_id: str, *, name: str | None = None, slug: str | None = None
    ) -> tuple[bool, bool]: ...
    async def list_workflows(
        self,
        workspace_id: str,
        flt: WorkflowFilter,
        *,
        limit: int,
        offset: int = 0,
        before_id: str | None = None,
    ) -> Page[Workflow]: ...
    async def update_workflow(
        self, workflow_id: str, values: dict[str, Any], *, expected_version: int | None = None
    ) -> bool: ...
    async def insert_version(self, version: WorkflowVersion) -> None: ...
    async def list_versions(self, workflow_id: str) -> list[WorkflowVersion]: ...
    async def find_run_by_idempotency_key(self, workflow_id: str, key: str) -> Run | None: ...
    async def list_runs(
        self,
        workflow_id: str,
        *,
        status: str | None,
        limit: int,
        offset: int = 0,
        before_id: str | None = None,
    ) -> Page[Run]: ...
    async def delete_run(self, run_id: str) -> None: ...
    async def average_duration(self, workflow_id: str) -> float | None: ...
    async def list_events(
        self, run_id: str, after_seq: int = 0, limit: int = 1000
    ) -> list[RunEvent]: ...
    async def all_step_runs(self, run_id: str) -> list[StepRun]: ...
    async def put_secret(
        self, workspace_id: str, name: str, ciphertext: str, now: datetime
    ) -> bool: ...
    async def list_secret_names(
        self, workspace_id: str
    ) -> list[tuple[str, datetime, datetime]]: ...
    async def delete_secret(self, workspace_id: str, name: str) -> bool: ...

    # -- lifecycle and access (workflows, trash, tokens, hooks) --

    # -- schedules --

    # -- templates --

    # -- analytics and related --


class StorePort(Protocol):
    """Opens transactions."""

    def write(self) -> AbstractAsyncContextManager[TxPort]: ...
    def read(self) -> AbstractAsyncContextManager[TxPort]: ...
