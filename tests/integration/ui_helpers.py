"""A browser-like httpx client for the web UI: logs in with a key, keeps the session cookie,
and knows the page's CSRF token."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx

from tests.integration.conftest import Api

_CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def csrf_of(html: str) -> str:
    """The CSRF token a page's forms carry."""
    found = _CSRF.search(html)
    assert found, "no CSRF field on the page"
    return found.group(1)


def secret_of(headers: dict[str, str]) -> str:
    """The key secret inside `Authorization: Bearer …` headers."""
    return headers["Authorization"].removeprefix("Bearer ")


@dataclass
class Ui:
    """A logged-in browser session."""

    client: httpx.AsyncClient
    csrf: str

    async def get(self, url: str, **kw: Any) -> httpx.Response:
        return await self.client.get(url, **kw)

    async def post(
        self, url: str, data: dict[str, Any] | None = None, *, csrf: str | None = None
    ) -> httpx.Response:
        """A form POST carrying the session's CSRF token (or `csrf` when given)."""
        form = {"csrf": self.csrf if csrf is None else csrf, **(data or {})}
        return await self.client.post(url, data=form)


@asynccontextmanager
async def ui_session(api: Api, secret: str | None = None) -> AsyncIterator[Ui]:
    """A new cookie jar logged in with `secret` (the admin key by default)."""
    transport = api.client._transport
    async with httpx.AsyncClient(transport=transport, base_url="http://flowdeck.test") as c:
        login = await c.get("/ui/login")
        assert login.status_code == 200, login.text
        resp = await c.post(
            "/ui/login", data={"api_key": secret or api.key, "csrf": csrf_of(login.text)}
        )
        assert resp.status_code == 303, resp.text
        home = await c.get("/ui/workflows")
        assert home.status_code == 200, home.text
        yield Ui(client=c, csrf=csrf_of(home.text))
