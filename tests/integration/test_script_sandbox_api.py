"""/readyz says which sandbox script steps run in."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from flowdeck.api.app import create_app
from flowdeck.config import Settings
from flowdeck.store.store import Store


async def readyz(settings: Settings, store: Store) -> dict[str, Any]:
    app = create_app(settings, store=store)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://flowdeck.test") as c:
            response = await c.get("/readyz")
    assert response.status_code == 200
    body: dict[str, Any] = response.json()
    return body


async def test_readyz_reports_bubblewrap_by_default(settings: Settings, store: Store) -> None:
    assert await readyz(settings, store) == {"status": "ready", "sandbox": "bwrap"}


@pytest.mark.parametrize(
    ("overrides", "sandbox"),
    [
        ({"allow_scripts": False}, "disabled"),
        ({"script_sandbox": "none"}, "none"),
        ({"script_sandbox": "bwrap", "script_bwrap_path": "/nonexistent/bwrap"}, "unavailable"),
    ],
)
async def test_readyz_reports_the_chosen_sandbox(
    settings: Settings, store: Store, overrides: dict[str, Any], sandbox: str
) -> None:
    changed = settings.model_copy(update=overrides)
    assert (await readyz(changed, store))["sandbox"] == sandbox


async def test_an_unavailable_sandbox_is_logged_at_start(
    settings: Settings, store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    changed = settings.model_copy(
        update={"script_sandbox": "bwrap", "script_bwrap_path": "/nonexistent/bwrap"}
    )
    with caplog.at_level("INFO", logger="flowdeck.sandbox"):
        await readyz(changed, store)
    assert "FLOWDECK_SCRIPT_SANDBOX=none" in caplog.text
