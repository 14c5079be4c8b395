"""Webhook secrets and signatures: the Standard Webhooks spelling, secrets made before it, and
the legacy scheme."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from datetime import UTC, datetime, timedelta

import pytest
from standardwebhooks import Webhook

from flowdeck.errors import BadRequest, Unauthorized
from flowdeck.services.webhooks import (
    StandardHeaders,
    canonical_secret,
    legacy_signed_by,
    new_webhook_secret,
    secret_key,
)


def test_new_secrets_are_standard() -> None:
    secret = new_webhook_secret()
    assert secret.startswith("whsec_")
    assert len(base64.b64decode(secret[6:], validate=True)) == 32
    assert canonical_secret(secret) == secret


def test_a_secret_made_before_keeps_its_key_and_its_legacy_spelling() -> None:
    old = "whsec_" + secrets.token_urlsafe(32)  # how secrets were made before
    while "-" not in old and "_" not in old[6:]:
        old = "whsec_" + secrets.token_urlsafe(32)
    shown = canonical_secret(old)
    assert shown != old and secret_key(shown) == secret_key(old)
    body = b'{"a": 1}'
    for spelling in (old, shown):  # a legacy sender may hold either
        digest = hmac.new(spelling.encode(), body, hashlib.sha256).hexdigest()
        assert legacy_signed_by(old, f"sha256={digest}", body)
    # A Standard Webhooks sender uses the shown spelling.
    now = datetime.now(UTC)
    headers = StandardHeaders("msg_1", str(int(now.timestamp())), "")
    signature = Webhook(shown).sign("msg_1", now, body.decode())
    assert StandardHeaders(headers.id, headers.timestamp, signature).signed_by(old, body)
    assert secret_key("whsec_not base64!") is None


def test_timestamps_outside_five_minutes_are_refused() -> None:
    now = datetime.now(UTC).replace(microsecond=0)

    def at(delta: timedelta) -> StandardHeaders:
        return StandardHeaders("m", str(int((now + delta).timestamp())), "v1,x")

    at(timedelta(minutes=-5)).check_time(now)
    at(timedelta(minutes=5)).check_time(now)
    with pytest.raises(BadRequest, match="old"):
        at(timedelta(minutes=-5, seconds=-1)).check_time(now)
    with pytest.raises(BadRequest, match="future"):
        at(timedelta(minutes=5, seconds=1)).check_time(now)
    for bad in ("", "1.5", "-1", "9" * 20, "soon"):
        with pytest.raises(Unauthorized):
            StandardHeaders("m", bad, "v1,x").sent_at()
