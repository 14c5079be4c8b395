"""The web UI's session: login with a key once, a signed HttpOnly SameSite=Strict cookie,
CSRF on every unsafe request, logout; / goes to the UI; the API docs work offline."""

from __future__ import annotations

import httpx

from tests.integration.conftest import Api
from tests.integration.ui_helpers import csrf_of, ui_session


def _browser(api: Api) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=api.client._transport, base_url="http://flowdeck.test")


async def test_root_redirects_to_the_ui_and_pages_need_a_login(api: Api) -> None:
    root = await api.client.get("/")
    assert root.status_code == 307
    assert root.headers["location"] == "/ui/"
    page = await api.client.get("/ui/workflows")
    assert page.status_code == 303
    assert page.headers["location"].startswith("/ui/login?next=%2Fui%2Fworkflows")
    # A bearer header is not a UI session: the key never rides along with page requests.
    assert (await api.client.get("/ui/workflows", headers=api.headers)).status_code == 303


async def test_login_sets_a_hardened_cookie_that_never_shows_the_key(api: Api) -> None:
    async with _browser(api) as browser:
        form = await browser.get("/ui/login")
        assert form.status_code == 200
        resp = await browser.post(
            "/ui/login", data={"api_key": api.key, "csrf": csrf_of(form.text), "next": "/ui/runs"}
        )
        assert resp.status_code == 303
        assert resp.headers["location"] == "/ui/runs"
        cookie = resp.headers["set-cookie"]
        assert "httponly" in cookie.lower()
        assert "samesite=strict" in cookie.lower()
        assert api.key not in cookie
        assert api.key[4:20] not in cookie  # not even base64-free parts of it
        page = await browser.get("/ui/runs")
        assert page.status_code == 200
        assert api.key not in page.text
        again = await browser.get("/ui/login?next=/ui/approvals")
        assert again.status_code == 303
        assert again.headers["location"] == "/ui/approvals"


async def test_a_wrong_key_or_a_missing_token_does_not_log_in(api: Api) -> None:
    async with _browser(api) as browser:
        form = await browser.get("/ui/login")
        bad = await browser.post(
            "/ui/login", data={"api_key": "fdk_nope", "csrf": csrf_of(form.text)}
        )
        assert bad.status_code == 401
        assert "invalid" in bad.text
        no_token = await browser.post("/ui/login", data={"api_key": api.key})
        assert no_token.status_code == 403
        assert (await browser.get("/ui/workflows")).status_code == 303
        # An open redirect is not possible through `next`.
        ok = await browser.post(
            "/ui/login",
            data={"api_key": api.key, "csrf": csrf_of(form.text), "next": "https://evil.test/"},
        )
        assert ok.headers["location"] == "/ui/"


async def test_every_unsafe_request_needs_the_session_csrf_token(api: Api) -> None:
    async with ui_session(api) as ui:
        missing = await ui.client.post("/ui/templates/tpl_approval_gate/install", data={})
        assert missing.status_code == 403
        assert "CSRF" in missing.text
        wrong = await ui.post("/ui/templates/tpl_approval_gate/install", csrf="forged")
        assert wrong.status_code == 403
        header = await ui.client.post(
            "/ui/templates/tpl_approval_gate/install", headers={"X-CSRF-Token": ui.csrf}
        )
        assert header.status_code == 303
        # Another session's token is worth nothing here.
        async with ui_session(api) as other:
            assert other.csrf != ui.csrf
            stolen = await ui.post("/ui/templates/tpl_approval_gate/install", csrf=other.csrf)
            assert stolen.status_code == 403


async def test_logout_ends_the_session_and_a_revoked_key_logs_out(api: Api) -> None:
    async with ui_session(api) as ui:
        out = await ui.post("/ui/logout")
        assert out.status_code == 303
        assert (await ui.get("/ui/workflows")).status_code == 303
    reader = await api.key_with("workflows:read")
    async with ui_session(api, reader["Authorization"].split()[1]) as ui:
        keys = await api.client.get("/api/keys", headers=api.headers)
        key_id = next(k["id"] for k in keys.json()["keys"] if k["name"] == "key-workflows:read")
        revoked = await api.client.delete(f"/api/keys/{key_id}", headers=api.headers)
        assert revoked.status_code == 204
        assert (await ui.get("/ui/workflows")).status_code == 303


async def test_api_docs_are_served_without_a_cdn(api: Api) -> None:
    for path in ("/docs", "/redoc"):
        page = await api.client.get(path)
        assert page.status_code == 200
        assert "cdn." not in page.text
        assert "/ui/docs-assets/" in page.text
    for asset in ("swagger-ui-bundle.js", "swagger-ui.css", "redoc.standalone.js"):
        resp = await api.client.get(f"/ui/docs-assets/{asset}")
        assert resp.status_code == 200
        assert len(resp.content) > 10_000
    assert (await api.client.get("/ui/static/vendor/htmx.min.js")).status_code == 200
