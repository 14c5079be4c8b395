"""The UI's browser session: a signed, HttpOnly, SameSite=Strict cookie holding a CSRF token
and the API key encrypted with the instance's secret box (the key never travels in a URL)."""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass

from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.requests import Request
from starlette.responses import Response

from flowdeck.crypto import SecretBox

COOKIE = "flowdeck_ui"
CSRF_FIELD = "csrf"
CSRF_HEADER = "x-csrf-token"
MAX_AGE_SECONDS = 12 * 3600


@dataclass(frozen=True)
class UiSession:
    """What the cookie holds: a CSRF token, and the sealed API key once logged in."""

    csrf: str
    sealed_key: str | None = None
    fresh: bool = False  # not yet in a cookie: the response must set it


def new_csrf() -> str:
    """A fresh random CSRF token."""
    return secrets.token_urlsafe(24)


def _serializer(box: SecretBox) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(box.signing_key("ui-session").hex(), salt="flowdeck-ui")


def read_session(request: Request, box: SecretBox) -> UiSession:
    """The request's session, or a new anonymous one when the cookie is absent or forged."""
    raw = request.cookies.get(COOKIE)
    if raw:
        try:
            data = _serializer(box).loads(raw, max_age=MAX_AGE_SECONDS)
        except BadSignature:
            data = None
        if isinstance(data, dict) and isinstance(data.get("csrf"), str):
            key = data.get("key")
            return UiSession(csrf=data["csrf"], sealed_key=key if isinstance(key, str) else None)
    return UiSession(csrf=new_csrf(), fresh=True)


def api_key(session: UiSession, box: SecretBox) -> str | None:
    """The session's API key in the clear, or None when not logged in (or unsealable)."""
    if session.sealed_key is None:
        return None
    try:
        return box.decrypt(session.sealed_key)
    except Exception:  # a cookie sealed by another instance's box
        return None


def write_session(
    response: Response, request: Request, box: SecretBox, *, csrf: str, key: str | None
) -> None:
    """Set the session cookie on `response` (a new CSRF token and key after a login)."""
    data = {"csrf": csrf, "key": box.encrypt(key) if key else None}
    response.set_cookie(
        COOKIE,
        _serializer(box).dumps(data),
        max_age=MAX_AGE_SECONDS,
        path="/",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )


def csrf_matches(session: UiSession, presented: str | None) -> bool:
    """True when the presented token is the session's (compared in constant time)."""
    if not presented or session.fresh:
        return False
    return hmac.compare_digest(presented.encode(), session.csrf.encode())
