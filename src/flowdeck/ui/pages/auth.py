"""Login (an API key, once), logout, and the redirects into the UI."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from starlette.responses import RedirectResponse, Response

from flowdeck.errors import Unauthorized
from flowdeck.ui import session as sessions
from flowdeck.ui.render import PageDep, UiRoute, check_csrf, redirect, render, services_of

router = APIRouter(route_class=UiRoute, include_in_schema=False)


def _safe_next(target: str | None) -> str:
    """Only paths inside the UI: never an open redirect."""
    if target and target.startswith("/ui/") and not target.startswith("//"):
        return target
    return "/ui/"


@router.get("/")
async def root() -> Response:
    """The server's front door is the UI."""
    return RedirectResponse("/ui/", status_code=307)


@router.get("/ui")
async def ui_root() -> Response:
    return RedirectResponse("/ui/", status_code=307)


@router.get("/ui/login")
async def login_form(request: Request, next: str | None = None) -> Response:
    """The login page (or straight on, for a session whose key still works)."""
    services = services_of(request)
    session = sessions.read_session(request, services.box)
    key = sessions.api_key(session, services.box)
    if key is not None:
        try:
            await services.auth.authenticate(key)
            return redirect(request, _safe_next(next))
        except Unauthorized:
            pass  # revoked since: log in again
    return render(request, "login.html", session=session, page=None, next=_safe_next(next))


@router.post("/ui/login")
async def login(
    request: Request,
    api_key: Annotated[str, Form(max_length=500)],
    next: Annotated[str | None, Form()] = None,
) -> Response:
    """Check the key; on success a new session (and CSRF token) holds it."""
    services = services_of(request)
    session = sessions.read_session(request, services.box)
    await check_csrf(request, session)
    try:
        await services.auth.authenticate(api_key.strip())
    except Unauthorized as exc:
        return render(
            request,
            "login.html",
            status_code=401,
            session=session,
            page=None,
            next=_safe_next(next),
            failed=exc.detail,
        )
    response = redirect(request, _safe_next(next))
    csrf = sessions.new_csrf()  # a new token at login: one seen before it is worth nothing
    sessions.write_session(response, request, services.box, csrf=csrf, key=api_key.strip())
    return response


@router.post("/ui/logout")
async def logout(page: PageDep) -> Response:
    """Forget the session."""
    response = page.redirect("/ui/login")
    response.delete_cookie(sessions.COOKIE, path="/")
    return response
