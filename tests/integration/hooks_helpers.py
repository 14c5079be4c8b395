"""Signing inbound hook requests the way senders do, and making webhook workflows."""

from __future__ import annotations

import hashlib
import hmac
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from standardwebhooks import Webhook

from tests.integration.conftest import Api
from tests.integration.runs_helpers import transform

WF = "/api/workflows"
HOOKS = "/api/hooks"


def echo(name: str = "Echo") -> dict[str, Any]:
    """A workflow whose output is its `order` input."""
    return {
        "name": name,
        "inputs": [{"name": "order", "type": "object", "required": True}],
        "steps": [transform("echo", "{{ inputs.order }}")],
    }


def standard(
    secret: str,
    body: bytes,
    *,
    msg_id: str | None = None,
    at: datetime | None = None,
    age: timedelta = timedelta(0),
) -> dict[str, str]:
    """Standard Webhooks headers, signed with the `standardwebhooks` package as senders do."""
    msg_id = msg_id or f"msg_{uuid.uuid4().hex}"
    moment = (at or datetime.now(UTC)) - age
    signature = Webhook(secret).sign(msg_id, moment, body.decode())
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(moment.timestamp())),
        "webhook-signature": signature,
        "Content-Type": "application/json",
    }


def legacy(secret: str, body: bytes) -> dict[str, str]:
    """The legacy `X-Flowdeck-Signature: sha256=<hex HMAC of the body>` header."""
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return {"X-Flowdeck-Signature": f"sha256={digest}", "Content-Type": "application/json"}


async def webhook_workflow(
    api: Api,
    definition: dict[str, Any] | None = None,
    *,
    headers: dict[str, str] | None = None,
    **fields: Any,
) -> tuple[str, str]:
    """Create a webhook workflow; returns its id and webhook secret."""
    resp = await api.client.post(
        WF,
        json={"definition": definition or echo(), "trigger_type": "webhook", **fields},
        headers=headers or api.headers,
    )
    assert resp.status_code == 201, resp.text
    return resp.json()["id"], resp.json()["workflow"]["webhook_secret"]


async def token_for(api: Api, wf_id: str, headers: dict[str, str] | None = None) -> str:
    """A workflow token for `wf_id`."""
    resp = await api.client.post(f"{WF}/{wf_id}/token", json={}, headers=headers or api.headers)
    assert resp.status_code == 200, resp.text
    return str(resp.json()["token"])


async def run_count(api: Api, wf_id: str, headers: dict[str, str] | None = None) -> int:
    """How many runs the workflow has."""
    resp = await api.client.get(f"{WF}/{wf_id}/runs", headers=headers or api.headers)
    return int(resp.json()["total"])
