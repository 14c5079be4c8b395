"""Access without an API key: public reads, workflow tokens, inbound webhooks and their secrets."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from flowdeck.crypto import SecretBox
from flowdeck.domain.clock import Clock
from flowdeck.domain.limits import JsonTooDeep, decode_json, too_deep_sentence
from flowdeck.domain.records import Run, Workflow
from flowdeck.errors import (
    BadRequest,
    Conflict,
    Forbidden,
    InvalidInput,
    NotFound,
    Unauthorized,
)
from flowdeck.services.auth import (
    ANY_WORKFLOW,
    TOKEN_DEFAULT_SECONDS,
    TOKEN_MAX_SECONDS,
    TOKEN_PREFIX,
    TOKEN_SCOPES,
    Principal,
    WorkflowTokenClaims,
    sign_workflow_token,
    verify_workflow_token,
)
from flowdeck.services.ports import StorePort, TxPort
from flowdeck.services.runs import RunService
from flowdeck.services.scope import load_workflow
from flowdeck.services.webhooks import (
    LEGACY_REPLAY_WINDOW,
    MAX_CANDIDATES,
    STANDARD_REPLAY_WINDOW,
    StandardHeaders,
    canonical_secret,
    legacy_replay_key,
    legacy_signed_by,
    new_webhook_secret,
)

_NO_CREDENTIALS = (
    "Sign the request with the workflow's webhook secret (Standard Webhooks: webhook-id, "
    "webhook-timestamp and webhook-signature headers) or pass a workflow token"
)


@dataclass(frozen=True)
class HookCredentials:
    """What an inbound hook request may authenticate with."""

    standard: dict[str, str | None] = field(default_factory=dict)  # webhook-id/-timestamp/-sig.
    legacy_signature: str | None = None  # X-Flowdeck-Signature
    token: str | None = None  # a workflow token (Bearer or ?token=)


@dataclass(frozen=True)
class Delivery:
    """A signed delivery to remember for `window`, so its repeat is refused."""

    key: str
    window: timedelta
    described: str
    remedy: str


def _shown(secret: str | None) -> str | None:
    return canonical_secret(secret) if secret is not None else None


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
        if principal.token or principal.workflow_id is not None:
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

    async def create_workspace_token(
        self, principal: Principal, expires_in: int = TOKEN_DEFAULT_SECONDS
    ) -> tuple[str, WorkflowTokenClaims]:
        """A signed token that may read and run every workflow of the workspace (seed 000's
        workflowToken, for public clients), for `expires_in` seconds."""
        principal.require("workflows:read")
        principal.require("workflows:run")
        if principal.token or principal.workflow_id is not None:
            raise Forbidden("A workflow token cannot issue tokens")
        if not 1 <= expires_in <= TOKEN_MAX_SECONDS:
            raise InvalidInput(
                "Invalid expiry",
                errors=[f"expires_in must be 1 to {TOKEN_MAX_SECONDS} seconds; got {expires_in}"],
            )
        claims = WorkflowTokenClaims(
            workspace_id=principal.workspace_id,
            workflow_id=ANY_WORKFLOW,
            key_id=principal.key_id,
            expires_at=self.clock.now().replace(microsecond=0) + timedelta(seconds=expires_in),
        )
        return sign_workflow_token(self._signing_key, claims), claims

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
            workflow_id=None if claims.workflow_id == ANY_WORKFLOW else claims.workflow_id,
            token=True,
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
        """The webhook secret for an editor of a webhook workflow (made on first need), spelled
        as Standard Webhooks expects (`whsec_` + base64)."""
        if not _editor(principal) or wf.trigger_type != "webhook" or wf.deleted_at is not None:
            return None
        if wf.webhook_secret is not None:
            return _shown(self._decrypt(wf))
        fresh = new_webhook_secret()
        async with self.store.write() as tx:
            if await tx.set_webhook_secret(wf.id, self.box.encrypt(fresh), only_if_missing=True):
                return fresh
            stored = await tx.get_workflow_by_id(wf.id)  # a concurrent reader made one first
        return _shown(self._decrypt(stored)) if stored is not None else None

    async def rotate_webhook_secret(self, principal: Principal, id_or_slug: str) -> str:
        """Replace a webhook workflow's secret; the old one stops working at once."""
        principal.require("workflows:write")
        fresh = new_webhook_secret()
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

    async def _signed_workflow(
        self, id_or_slug: str, matches: Callable[[str], bool]
    ) -> Workflow | None:
        """The workflow named by the hook path whose secret made the signature. A slug may be
        taken in several workspaces; only one secret can match."""
        async with self.store.read() as tx:
            candidates = await tx.hook_workflows(id_or_slug, MAX_CANDIDATES)
        for wf in candidates:
            secret = self._decrypt(wf)
            if secret is not None and matches(secret):
                return wf
        return None

    async def _hook_principal(
        self, id_or_slug: str, body: bytes, credentials: HookCredentials
    ) -> tuple[Principal, Workflow, Delivery | None]:
        token = credentials.token
        if token is not None and token.startswith(TOKEN_PREFIX):
            principal = await self.authenticate_token(token)
            async with self.store.read() as tx:
                return principal, await load_workflow(tx, principal, id_or_slug), None
        standard = StandardHeaders.parse(credentials.standard)
        # One answer for an unknown workflow, a missing secret and a wrong signature, so an
        # unauthenticated caller learns nothing about which workflows exist.
        if standard is not None:
            wf = await self._signed_workflow(id_or_slug, lambda s: standard.signed_by(s, body))
            if wf is None:
                raise Unauthorized("The webhook-signature does not match the message")
            standard.check_time(self.clock.now())
            delivery = Delivery(
                standard.replay_key(),
                STANDARD_REPLAY_WINDOW,
                f"webhook-id '{standard.id}'",
                "a new delivery needs a new webhook-id",
            )
        elif credentials.legacy_signature is not None:
            signature = credentials.legacy_signature
            wf = await self._signed_workflow(
                id_or_slug, lambda s: legacy_signed_by(s, signature, body)
            )
            if wf is None:
                raise Unauthorized("The X-Flowdeck-Signature does not match the body")
            if not wf.legacy_webhook_signature:
                raise Forbidden(
                    f"Workflow '{wf.slug}' accepts only Standard Webhooks signatures "
                    "(webhook-id, webhook-timestamp, webhook-signature); set "
                    "legacy_webhook_signature: true on it to accept X-Flowdeck-Signature"
                )
            delivery = Delivery(
                legacy_replay_key(signature),
                LEGACY_REPLAY_WINDOW,
                "this signed body",
                "within 24 hours a new delivery needs another body (add a timestamp or an id)",
            )
        else:
            prefix = "Hooks do not take API keys. " if token is not None else ""
            raise Unauthorized(prefix + _NO_CREDENTIALS)
        principal = Principal(
            workspace_id=wf.workspace_id,
            key_id="webhook",
            name="webhook",
            scopes=("workflows:run",),
            workflow_id=wf.id,
        )
        return principal, wf, delivery

    async def receive_hook(
        self,
        id_or_slug: str,
        body: bytes,
        credentials: HookCredentials,
        *,
        idempotency_key: str | None = None,
    ) -> Run:
        """Start a run of a webhook workflow with the JSON body as its input_data.

        A signed delivery is recorded in the transaction that creates its run, so a repeat of
        it is refused (409) and two identical deliveries racing on several servers start one.
        """
        principal, wf, delivery = await self._hook_principal(id_or_slug, body, credentials)
        if wf.trigger_type != "webhook":
            raise Conflict(
                f"Workflow '{wf.slug}' has trigger_type '{wf.trigger_type}', not 'webhook'"
            )
        record = None
        if delivery is not None:
            record = functools.partial(self._record_delivery, delivery)
        # A paused or archived workflow refuses the run itself (409), as for any start.
        run, _ = await self.runs.start(
            principal,
            wf.id,
            input_data=_json_object(body),
            trigger="webhook",
            idempotency_key=idempotency_key,
            record=record,
        )
        return run

    async def _record_delivery(self, delivery: Delivery, tx: TxPort, run: Run) -> None:
        now = self.clock.now()
        if await tx.record_webhook_delivery(
            run.workflow_id,
            delivery.key,
            run_id=run.id,
            received_at=now,
            expires_at=now + delivery.window,
        ):
            return
        earlier = await tx.webhook_delivery_run(run.workflow_id, delivery.key)
        started = f" (it started run {earlier})" if earlier else ""
        raise Conflict(
            f"This delivery was already received: {delivery.described} was accepted "
            f"before{started}; {delivery.remedy}"
        )

    async def purge_webhook_deliveries(self, limit: int) -> int:
        """Forget expired delivery records (the lifecycle loop calls this)."""
        async with self.store.write() as tx:
            return await tx.purge_webhook_deliveries(self.clock.now(), limit)

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
