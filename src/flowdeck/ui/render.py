"""What every page shares: the Jinja environment, the logged-in page context, CSRF on every
unsafe request, and errors rendered as pages (a page never answers problem+json)."""

from __future__ import annotations

import json
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import Depends, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from fastapi.templating import Jinja2Templates
from starlette.responses import HTMLResponse, RedirectResponse, Response

from flowdeck.api.problems import validation_sentences
from flowdeck.api.ratelimit import rate_limits
from flowdeck.errors import FlowdeckError, Forbidden, InvalidInput, Unauthorized
from flowdeck.services.auth import Principal
from flowdeck.services.container import Services
from flowdeck.ui import session as sessions
from flowdeck.ui.session import UiSession

HERE = Path(__file__).parent
templates = Jinja2Templates(directory=HERE / "templates")
UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# Pages load only their own files: no inline script or style, no framing, forms post home.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; "
        "object-src 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}
# Query parameters the pages share, bounded so a database never sees an out-of-range number.
Offset = Annotated[int, Query(ge=0, le=10**9)]
VersionNumber = Annotated[int, Query(ge=1, le=2**31 - 1)]


def _when(value: datetime | str | None) -> str:
    if value is None:
        return "—"
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    return moment.strftime("%Y-%m-%d %H:%M:%S")


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 120:
        return f"{seconds:.1f} s"
    return f"{seconds / 60:.1f} min"


def _pretty(value: Any) -> str:
    return json.dumps(value, indent=2, sort_keys=True, default=str)


templates.env.filters.update(when=_when, duration=_duration, pretty=_pretty)
templates.env.globals["query"] = lambda **kw: urlencode({k: v for k, v in kw.items() if v})


class LoginRequired(Exception):
    """No usable session: the browser goes to the login page."""


def services_of(request: Request) -> Services:
    """The process's services."""
    found: Services = request.app.state.services
    return found


@dataclass
class Page:
    """One request's page context: services, the caller, the session."""

    request: Request
    services: Services
    principal: Principal
    session: UiSession

    @property
    def can_write(self) -> bool:
        return self.principal.allows("workflows:write")

    @property
    def can_run(self) -> bool:
        return self.principal.allows("workflows:run")

    @property
    def is_admin(self) -> bool:
        return self.principal.allows("workflows:admin")

    async def form(self) -> dict[str, str]:
        """The posted form's text fields (the last value of each)."""
        data = await self.request.form()
        return {k: v for k, v in data.items() if isinstance(v, str)}

    async def form_lists(self, name: str) -> list[str]:
        """Every value posted under `name` (checkbox groups)."""
        data = await self.request.form()
        return [v for v in data.getlist(name) if isinstance(v, str)]

    def render(self, name: str, *, status_code: int = 200, **context: Any) -> HTMLResponse:
        """Render a template with the page context."""
        return render(
            self.request, name, status_code=status_code, page=self, session=self.session, **context
        )

    def redirect(self, url: str) -> Response:
        """After a successful POST: to `url` (htmx follows HX-Redirect)."""
        return redirect(self.request, url)


def render(request: Request, name: str, *, status_code: int = 200, **context: Any) -> HTMLResponse:
    """A template as an HTML response; sets the session cookie when it is new."""
    session: UiSession | None = context.get("session")
    response = templates.TemplateResponse(request, name, context, status_code=status_code)
    response.headers.update(SECURITY_HEADERS)
    if session is not None and session.fresh:
        box = services_of(request).box
        sessions.write_session(response, request, box, csrf=session.csrf, key=None)
    return response


def redirect(request: Request, url: str) -> Response:
    """A 303 to `url`, or an HX-Redirect for htmx requests."""
    if request.headers.get("hx-request"):
        return Response(status_code=204, headers={"HX-Redirect": url})
    return RedirectResponse(url, status_code=303)


async def check_csrf(request: Request, session: UiSession) -> None:
    """Unsafe requests carry the session's CSRF token in a form field or header."""
    if request.method not in UNSAFE:
        return
    presented = request.headers.get(sessions.CSRF_HEADER)
    if presented is None:
        form = await request.form()
        field = form.get(sessions.CSRF_FIELD)
        presented = field if isinstance(field, str) else None
    if not sessions.csrf_matches(session, presented):
        raise Forbidden("The form's CSRF token is missing or wrong; reload the page and retry")


async def current_page(request: Request) -> Page:
    """The logged-in caller's page context (CSRF checked on unsafe methods)."""
    services = services_of(request)
    session = sessions.read_session(request, services.box)
    key = sessions.api_key(session, services.box)
    if key is None:
        raise LoginRequired
    try:
        principal = await services.auth.authenticate(key)
    except Unauthorized as exc:
        raise LoginRequired from exc
    await check_csrf(request, session)
    # Pages count against the key's rate limit like API requests (429 past it).
    rate_limits(request).count_key(request.scope, principal.key_id)
    return Page(request=request, services=services, principal=principal, session=session)


PageDep = Annotated[Page, Depends(current_page)]


def error_page(request: Request, exc: FlowdeckError) -> HTMLResponse:
    """A FlowdeckError as an HTML page (or fragment for htmx) with the error's status."""
    services = services_of(request)
    session = sessions.read_session(request, services.box)
    name = "_error.html" if request.headers.get("hx-request") else "error.html"
    return render(request, name, status_code=exc.status, error=exc, session=session, page=None)


class UiRoute(APIRoute):
    """A page route: no session → the login page; service errors → an error page."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def guarded(request: Request) -> Response:
            try:
                return await handler(request)
            except LoginRequired:
                target = "/ui/login?" + urlencode({"next": request.url.path})
                return redirect(request, target)
            except FlowdeckError as exc:
                return error_page(request, exc)
            except RequestValidationError as exc:
                sentences = validation_sentences(list(exc.errors()))
                invalid = InvalidInput("The address holds invalid values", errors=sentences)
                return error_page(request, invalid)

        return guarded
