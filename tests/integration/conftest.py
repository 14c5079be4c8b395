"""API fixtures: the app on the test database, an admin key, a second workspace."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from flowdeck.api.app import create_app
from flowdeck.config import Settings
from flowdeck.domain.clock import SystemClock
from flowdeck.domain.ids import new_id
from flowdeck.domain.records import Workspace
from flowdeck.services.auth import AuthService
from flowdeck.store.store import Store


@dataclass
class Api:
    """An httpx client on the app plus the admin key's headers."""

    client: httpx.AsyncClient
    key: str
    store: Store

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}

    async def key_with(self, *scopes: str, workspace_id: str | None = None) -> dict[str, str]:
        """Headers for a new key with exactly `scopes`."""
        auth = AuthService(self.store, SystemClock())
        if workspace_id is None:
            async with self.store.read() as tx:
                ws = await tx.get_workspace_by_slug("default")
                assert ws is not None
                workspace_id = ws.id
        _, secret = await auth.create_key(workspace_id, f"key-{'-'.join(scopes)}", scopes)
        return {"Authorization": f"Bearer {secret}"}

    async def other_workspace(self) -> dict[str, str]:
        """Admin headers for a second, separate workspace."""
        ws = Workspace(
            id=new_id("ws"),
            slug=f"other-{new_id('x')[-6:]}",
            name="Other",
            created_at=SystemClock().now(),
        )
        async with self.store.write() as tx:
            await tx.insert_workspace(ws)
        return await self.key_with("workflows:admin", workspace_id=ws.id)


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    """Settings for an in-process app on the test database."""
    # The tests' HTTP peers listen on loopback, which the egress guard refuses unless opened.
    return Settings(data_dir=tmp_path / "data", database_url=database_url, http_allow="127.0.0.1")


@pytest.fixture
async def api(settings: Settings, store: Store) -> AsyncIterator[Api]:
    """The app served through httpx's ASGI transport, bootstrapped with an admin key."""
    secret = await AuthService(store, SystemClock()).bootstrap(None)
    assert secret is not None
    app = create_app(settings, store=store)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://flowdeck.test") as c:
            yield Api(client=c, key=secret, store=store)
