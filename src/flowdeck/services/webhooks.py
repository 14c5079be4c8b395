"""Inbound webhook credentials: the workflow's `whsec_` secret, the Standard Webhooks scheme and
the legacy `X-Flowdeck-Signature` scheme, and what makes a delivery a repeat.

Standard Webhooks (https://www.standardwebhooks.com): the sender signs
`<webhook-id>.<webhook-timestamp>.<body>` with HMAC-SHA256 under the secret's base64-decoded
key and sends `webhook-signature: v1,<base64 signature>` (several, space separated, during a key
rotation). A delivery is accepted when one signature matches, the timestamp is within
`TOLERANCE` of the server's clock, and its id was not seen before for this workflow.

The legacy scheme signs the body alone (`X-Flowdeck-Signature: sha256=<hex>`, keyed with the
secret text as the sender was given it). It has no timestamp and no id, so a workflow must opt
in (`legacy_webhook_signature`), and a repeated signature (that is, the same body) is refused
for `LEGACY_REPLAY_WINDOW`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from standardwebhooks import Webhook

from flowdeck.engine.steps.webhook import sign as legacy_sign
from flowdeck.errors import BadRequest, Unauthorized

WEBHOOK_SECRET_PREFIX = "whsec_"
SECRET_BYTES = 32
TOLERANCE = timedelta(minutes=5)
# A Standard Webhooks id is remembered well past the tolerance (which is all replay protection
# needs) so a sender retrying the same message for a day or two still starts one run.
STANDARD_REPLAY_WINDOW = timedelta(days=3)
LEGACY_REPLAY_WINDOW = timedelta(hours=24)
MAX_CANDIDATES = 20
STANDARD_HEADERS = ("webhook-id", "webhook-timestamp", "webhook-signature")


def new_webhook_secret() -> str:
    """A fresh secret: `whsec_` and the standard base64 of 32 random bytes."""
    return WEBHOOK_SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def secret_key(secret: str) -> bytes | None:
    """The key bytes of a `whsec_` secret, or None when it is not base64.

    Secrets made before Flowdeck followed Standard Webhooks are URL-safe base64 without padding;
    they decode to the same kind of key, so both spellings are read.
    """
    text = secret.removeprefix(WEBHOOK_SECRET_PREFIX).translate(str.maketrans("-_", "+/"))
    try:
        key = base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError):
        return None
    return key or None


def canonical_secret(secret: str) -> str:
    """The secret as Standard Webhooks spells it (`whsec_` + standard, padded base64)."""
    key = secret_key(secret)
    if key is None:
        return secret
    return WEBHOOK_SECRET_PREFIX + base64.b64encode(key).decode()


@dataclass(frozen=True)
class StandardHeaders:
    """The three Standard Webhooks headers of a request."""

    id: str
    timestamp: str
    signature: str

    @classmethod
    def parse(cls, headers: dict[str, str | None]) -> StandardHeaders | None:
        """The headers when any is present (Unauthorized when one is missing), else None."""
        present = {name: headers.get(name) for name in STANDARD_HEADERS}
        if not any(present.values()):
            return None
        missing = [name for name, value in present.items() if not value]
        if missing:
            raise Unauthorized(
                "Standard Webhooks needs webhook-id, webhook-timestamp and webhook-signature; "
                f"missing: {', '.join(missing)}"
            )
        hid, stamp, signature = (str(present[name]) for name in STANDARD_HEADERS)
        return cls(hid, stamp, signature)

    def sent_at(self) -> datetime:
        """The timestamp as a moment; Unauthorized unless it is whole seconds since the epoch."""
        stamp = self.timestamp.strip()
        if not stamp.isdigit() or len(stamp) > 12:
            raise Unauthorized("webhook-timestamp must be whole seconds since the Unix epoch")
        return datetime.fromtimestamp(int(stamp), tz=UTC)

    def signed_by(self, secret: str, body: bytes) -> bool:
        """True when one `v1,` signature of the header is this secret's over id, time, body."""
        key = secret_key(secret)
        if key is None:
            return False
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            return False  # senders sign text; undecodable bytes cannot carry their signature
        expected = Webhook(key).sign(self.id, self.sent_at(), text).encode()
        return any(
            hmac.compare_digest(expected, candidate.encode())
            for candidate in self.signature.split()
            if candidate.startswith("v1,")
        )

    def check_time(self, now: datetime) -> None:
        """BadRequest when the timestamp is more than `TOLERANCE` away from `now`."""
        skew = (now - self.sent_at()).total_seconds()
        limit = TOLERANCE.total_seconds()
        if skew > limit:
            raise BadRequest(
                f"webhook-timestamp is {skew:.0f} s old; Flowdeck accepts messages signed at "
                f"most {limit:.0f} s ago (sign each delivery afresh, and check the sender's clock)"
            )
        if -skew > limit:
            raise BadRequest(
                f"webhook-timestamp is {-skew:.0f} s in the future; Flowdeck accepts at most "
                f"{limit:.0f} s of clock difference (check the sender's clock)"
            )

    def replay_key(self) -> str:
        """What identifies this delivery among the workflow's others."""
        return _digest("standard", self.id)


def legacy_signed_by(secret: str, signature: str, body: bytes) -> bool:
    """True when `signature` is `sha256=<hex HMAC>` of the body under this secret, spelled as
    shown today or (for a secret made before) as it was first handed out."""
    given = signature.strip().lower()
    return any(
        hmac.compare_digest(legacy_sign(spelling, body).encode(), given.encode())
        for spelling in _spellings(secret)
    )


def legacy_replay_key(signature: str) -> str:
    """What identifies a legacy delivery: its signature, i.e. its body under this secret."""
    return _digest("legacy", signature.strip().lower())


def _spellings(secret: str) -> Iterable[str]:
    canonical = canonical_secret(secret)
    return (canonical,) if canonical == secret else (canonical, secret)


def _digest(scheme: str, value: str) -> str:
    return hashlib.sha256(f"{scheme}:{value}".encode()).hexdigest()
