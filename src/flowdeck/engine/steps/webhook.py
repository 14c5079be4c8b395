"""The `webhook` step: send a JSON payload, optionally HMAC-signed; non-2xx fails (SPEC §3)."""

from __future__ import annotations

import hashlib
import hmac
import json

from flowdeck.domain.step_configs import WebhookConfig
from flowdeck.engine.steps.base import Completed, StepContext, StepFailed, StepOutcome
from flowdeck.engine.steps.common import redact_text, validated_config
from flowdeck.engine.steps.http_request import (
    IDEMPOTENCY_HEADER,
    build_request,
    describe,
    exchange,
    retryable_status,
    with_header,
)

SIGNATURE_HEADER = "X-Flowdeck-Signature"


def sign(secret: str, body: bytes) -> str:
    """The signature header value: `sha256=` and the hex HMAC-SHA256 of `body`."""
    digest = hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def encode_payload(payload: object) -> bytes:
    """The payload as compact UTF-8 JSON: exactly the bytes sent and signed (empty for None)."""
    if payload is None:
        return b""
    text = json.dumps(payload, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    return text.encode("utf-8")


class WebhookHandler:
    """Deliver a webhook; anything but a 2xx answer fails the step."""

    type_name = "webhook"
    config_model = WebhookConfig

    async def execute(self, ctx: StepContext) -> StepOutcome:
        """Send the payload once and return the status and the decoded body."""
        config = await validated_config(ctx, WebhookConfig, text_maps=("headers",))
        try:
            body = encode_payload(config.payload)
        except (TypeError, ValueError) as exc:
            message = f"The webhook payload cannot be sent as JSON: {exc}"
            raise StepFailed(redact_text(ctx, message), retryable=False) from None
        headers = with_header(config.headers, IDEMPOTENCY_HEADER, ctx.idempotency_key)
        if body:
            headers = with_header(headers, "Content-Type", "application/json")
        if config.secret is not None:
            # Our signature always wins over a user-supplied header of the same name.
            headers = {k: v for k, v in headers.items() if k.lower() != SIGNATURE_HEADER.lower()}
            headers[SIGNATURE_HEADER] = sign(config.secret, body)
        request = build_request(
            ctx, config.method, config.url, headers=headers, content=body or None
        )
        # A redirect would re-send the signed payload elsewhere (307/308): report it instead.
        reply = await exchange(ctx, request, None, follow_redirects=False)
        output = ctx.redact({"status_code": reply.status_code, "body": reply.body})
        if not 200 <= reply.status_code < 300:
            message = f"HTTP {reply.status_code} from {describe(ctx, request)}; expected 2xx"
            raise StepFailed(message, retryable=retryable_status(reply.status_code), output=output)
        return Completed(output)
