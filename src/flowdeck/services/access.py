"""Access without an API key: public reads, workflow tokens, inbound webhooks and their secrets."""

from __future__ import annotations

import hmac
import secrets
from datetime import timedelta
from typing import Any

from flowdeck.crypto import SecretBox
from flowdeck.domain.clock import Clock
from flowdeck.domain.limits import JsonTooDeep, decode_json, too_deep_sentence
from flowdeck.domain.records import Run, Workflow
from flowdeck.engine.steps.webhook import sign
from flowdeck.errors import (
    BadRequest,
    Conflict,
    Forbidden,
    InvalidInput,
    NotFound,
    Unauthorized,
)
from flowdeck.services.auth import (
    TOKEN_DEFAULT_SECONDS,
    TOKEN_MAX_SECONDS,
    TOKEN_PREFIX,
    TOKEN_SCOPES,
    Principal,
    WorkflowTokenClaims,
    sign_workflow_token,
    verify_workflow_token,
)
from flowdeck.services.ports import StorePort
from flowdeck.services.runs import RunService
from flowdeck.services.scope import load_workflow

WEBHOOK_SECRET_PREFIX = "whsec_"
_NO_CREDENTIALS = (
    "Sign the body with the workflow's webhook secret "
    "(X-Flowdeck-Signature: sha256=<hex HMAC-SHA256>) or pass a workflow token"
)


def _editor(principal: Principal | None) -> bool:
    return (
        principal is not None
        and principal.workflow_id is None
        and principal.allows("workflows:write")
    )


class AccessService:
    """Workflow tokens, webhook secrets, inbound hooks and public reads."""

    def __init__(self, store: StorePort, clock: Clock, box: SecretBox, runs: RunService) -> None:
        self.store = store
        self.clock = clock
        self.box = box
        self.runs = runs
        self._signing_key = box.signing_key("workflow-token")

    # -- workflow tokens -------------------------------------------------------------------

    async def create_token(
        self, principal: Principal, id_or_slug: str, expires_in: int = TOKEN_DEFAULT_SECONDS
    ) -> tuple[str, Workflow, WorkflowTokenClaims]:
        """A signed token that may only read and run this workflow, for `expires_in` seconds."""
        principal.require("workflows:read")
        principal.require("workflows:run")
        if principal.workflow_id is not None:
            raise Forbidden("A workflow token cannot issue tokens")
        if not 1 <= expires_in <= TOKEN_MAX_SECONDS:
            raise InvalidInput(
                "Invalid expiry",
                errors=[f"expires_in must be 1 to {TOKEN_MAX_SECONDS} seconds; got {expires_in}"],
            )
        async with self.store.read() as tx:
            wf = await load_workflow(tx, principal, id_or_slug)
        claims = WorkflowTokenClaims(
            workspace_id=wf.workspace_id,
            workflow_id=wf.id,
            key_id=principal.key_id,
            expires_at=self.clock.now().replace(microsecond=0) + timedelta(seconds=expires_in),
        )
        return sign_workflow_token(self._signing_key, claims), wf, claims

    async def authenticate_token(self, token: str) -> Principal:
        """The principal of a workflow token: read and run one workflow, nothing else."""
        claims = verify_workflow_token(self._signing_key, token, self.clock.now())
        async with self.store.read() as tx:
            key_name = await tx.live_api_key_name(claims.key_id, claims.workspace_id)
        if key_name is None:
            raise Unauthorized("The workflow token's API key was revoked")
        return Principal(
            workspace_id=claims.workspace_id,
            key_id=claims.key_id,
            name=f"{key_name} (workflow token)",
            scopes=TOKEN_SCOPES,
            workflow_id=claims.workflow_id,
        )

    # -- webhook secrets -------------------------------------------------------------------

    def _decrypt(self, wf: Workflow) -> str | None:
        if wf.webhook_secret is None:
            return None
        try:
            return self.box.decrypt(wf.webhook_secret)
        except ValueError:  # the instance key changed; rotating makes a usable one
            return None

    async def webhook_secret_for(self, principal: Principal | None, wf: Workflow) -> str | None:
        """The webhook secret for an editor of a webhook workflow (made on first need)."""
        if not _editor(principal) or wf.trigger_type != "webhook" or wf.deleted_at is not None:
            return None
        if wf.webhook_secret is not None:
            return self._decrypt(wf)
        fresh = WEBHOOK_SECRET_PREFIX + secrets.token_urlsafe(32)
        async with self.store.write() as tx:
            if await tx.set_webhook_secret(wf.id, self.box.encrypt(fresh), only_if_missing=True):
                return fresh
            stored = await tx.get_workflow_by_id(wf.id)  # a concurrent reader made one first
        return self._decrypt(stored) if stored is not None else None

    async def rotate_webhook_secret(self, principal: Principal, id_or_slug: str) -> str:
        """Replace a webhook workflow's secret; the old one stops working at once."""
        principal.require("workflows:write")
        fresh = WEBHOOK_SECRET_PREFIX + secrets.token_urlsafe(32)
        async with self.store.write() as tx:
            wf = await load_workflow(tx, principal, id_or_slug)
            if wf.trigger_type != "webhook":
                raise Conflict(
                    f"Workflow '{wf.slug}' has trigger_type '{wf.trigger_type}'; "
                    "set it to 'webhook' to give it a webhook secret"
                )
            await tx.set_webhook_secret(wf.id, self.box.encrypt(fresh), only_if_missing=False)
        return fresh

    # -- inbound hooks ---------------------------------------------------------------------

    async def _hook_principal(
        self, workflow_id: str, body: bytes, signature: str | None, token: str | None
    ) -> tuple[Principal, Workflow]:
        if token is not None and token.startswith(TOKEN_PREFIX):
            principal = await self.authenticate_token(token)
            async with self.store.read() as tx:
                return principal, await load_workflow(tx, principal, workflow_id)
        if signature is None:
            prefix = "Hooks do not take API keys. " if token is not None else ""
            raise Unauthorized(prefix + _NO_CREDENTIALS)
        async with self.store.read() as tx:
            wf = await tx.get_workflow_by_id(workflow_id)
        secret = self._decrypt(wf) if wf is not None else None
        # One answer for an unknown workflow, a missing secret and a wrong signature, so
        # an unauthenticated caller learns nothing about which workflows exist.
        if (
            wf is None
            or secret is None
            or not hmac.compare_digest(sign(secret, body), signature.strip().lower())
        ):
            raise Unauthorized("The X-Flowdeck-Signature does not match the body")
        principal = Principal(
            workspace_id=wf.workspace_id,
            key_id="webhook",
            name="webhook",
            scopes=("workflows:run",),
            workflow_id=wf.id,
        )
        return principal, wf

    async def receive_hook(
        self,
        workflow_id: str,
        body: bytes,
        *,
        signature: str | None,
        token: str | None,
        idempotency_key: str | None = None,
    ) -> Run:
        """Start a run of a webhook workflow with the JSON body as its input_data."""
        principal, wf = await self._hook_principal(workflow_id, body, signature, token)
        if wf.trigger_type != "webhook":
            raise Conflict(
                f"Workflow '{wf.slug}' has trigger_type '{wf.trigger_type}', not 'webhook'"
            )
        # A paused or archived workflow refuses the run itself (409), as for any start.
        run, _ = await self.runs.start(
            principal,
            wf.id,
            input_data=_json_object(body),
            trigger="webhook",
            idempotency_key=idempotency_key,
        )
        return run

    # -- public reads ----------------------------------------------------------------------

    async def public_workflow(self, workspace_slug: str, id_or_slug: str) -> Workflow:
        """A `public` workflow of a workspace, for anyone; private ones do not exist here."""
        async with self.store.read() as tx:
            ws = await tx.get_workspace_by_slug(workspace_slug)
            wf = await tx.get_workflow(ws.id, id_or_slug) if ws is not None else None
        if wf is None or wf.visibility != "public":
            raise NotFound(f"No public workflow '{id_or_slug}' in workspace '{workspace_slug}'")
        return wf


_JSON_TYPES = {
    list: "an array",
    str: "a string",
    int: "a number",
    float: "a number",
    bool: "a boolean",
}


def _json_object(body: bytes) -> dict[str, Any]:
    if not body.strip():
        return {}
    try:
        data = decode_json(body)
    except JsonTooDeep:
        too_deep = too_deep_sentence("input_data")
        raise InvalidInput("The body is invalid", errors=[too_deep]) from None
    except ValueError as exc:
        raise BadRequest(f"The request body is not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise InvalidInput(
            "The body must be a JSON object",
            errors=[f"body: must be a JSON object; got {_JSON_TYPES.get(type(data), 'null')}"],
        )
    return data
