"""API keys: generation, hashing, authentication, scopes and first-start bootstrap."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from flowdeck.domain.clock import Clock
from flowdeck.domain.ids import new_id
from flowdeck.domain.records import SCOPES, ApiKey, Workspace
from flowdeck.errors import Forbidden, InvalidInput, NotFound, Unauthorized
from flowdeck.services.ports import StorePort

KEY_PREFIX = "fdk_"
TOKEN_PREFIX = "fdt_"
TOKEN_SCOPES = ("workflows:read", "workflows:run")
TOKEN_DEFAULT_SECONDS = 3600
TOKEN_MAX_SECONDS = 24 * 3600
# A token's workflow claim for "every workflow of the workspace" (seed 000's workflowToken).
ANY_WORKFLOW = "*"
# Seed 000's scope names, accepted when creating keys as these Flowdeck scopes.
SCOPE_ALIASES = {
    "workflow:read": "workflows:read",
    "workflow:create": "workflows:write",
    "workflow:update": "workflows:write",
}
_TOUCH_INTERVAL = timedelta(minutes=5)


@dataclass(frozen=True)
class Principal:
    """Who is calling: the key's workspace, name and scopes."""

    workspace_id: str
    key_id: str
    name: str
    scopes: tuple[str, ...]
    instance_admin: bool = False
    workflow_id: str | None = None
    token: bool = False  # a workflow token (of one workflow, or of the whole workspace)

    def allows(self, scope: str) -> bool:
        """True when the caller holds `scope` (admin implies every scope)."""
        return scope in self.scopes or "workflows:admin" in self.scopes

    def require(self, scope: str) -> None:
        """Raise Forbidden unless the caller holds `scope`."""
        if not self.allows(scope):
            raise Forbidden(f"This API key lacks the '{scope}' scope")


def hash_key(secret: str) -> str:
    """SHA-256 of a key's secret; keys carry 256 random bits, so a fast hash is safe."""
    return hashlib.sha256(secret.encode()).hexdigest()


def generate_key() -> str:
    """A new random key secret."""
    return KEY_PREFIX + secrets.token_urlsafe(32)


@dataclass(frozen=True)
class WorkflowTokenClaims:
    """What a workflow token says: whose it is, which workflow, until when."""

    workspace_id: str
    workflow_id: str
    key_id: str
    expires_at: datetime


def _b64encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _token_signature(signing_key: bytes, payload: str) -> str:
    return _b64encode(hmac.new(signing_key, payload.encode(), hashlib.sha256).digest())


def sign_workflow_token(signing_key: bytes, claims: WorkflowTokenClaims) -> str:
    """`fdt_<base64url JSON claims>.<base64url HMAC-SHA256 of that text>`."""
    data = {
        "ws": claims.workspace_id,
        "wf": claims.workflow_id,
        "key": claims.key_id,
        "exp": int(claims.expires_at.timestamp()),
    }
    payload = _b64encode(json.dumps(data, separators=(",", ":"), sort_keys=True).encode())
    return f"{TOKEN_PREFIX}{payload}.{_token_signature(signing_key, payload)}"


def verify_workflow_token(signing_key: bytes, token: str, now: datetime) -> WorkflowTokenClaims:
    """The claims of a genuine, unexpired token; Unauthorized otherwise."""
    invalid = Unauthorized("The workflow token is invalid")
    payload, dot, signature = token.removeprefix(TOKEN_PREFIX).partition(".")
    if not token.startswith(TOKEN_PREFIX) or not dot or not payload:
        raise invalid
    # Compare signatures before looking inside: a forged payload is never parsed.
    expected = _token_signature(signing_key, payload).encode()
    if not hmac.compare_digest(signature.encode(), expected):  # bytes: any text compares
        raise invalid
    try:
        data = json.loads(_b64decode(payload))
    except (ValueError, binascii.Error) as exc:
        raise invalid from exc
    fields = ("ws", "wf", "key")
    if (
        not isinstance(data, dict)
        or not all(isinstance(data.get(f), str) for f in fields)
        or not isinstance(data.get("exp"), int)
    ):
        raise invalid
    expires_at = datetime.fromtimestamp(data["exp"], UTC)
    if now >= expires_at:
        raise Unauthorized("The workflow token has expired; ask for a new one")
    return WorkflowTokenClaims(
        workspace_id=data["ws"], workflow_id=data["wf"], key_id=data["key"], expires_at=expires_at
    )


def check_scopes(scopes: Sequence[str]) -> tuple[str, ...]:
    """Validate a list of scope names (seed 000's aliases become Flowdeck's names)."""
    scopes = [SCOPE_ALIASES.get(s, s) for s in scopes]
    unknown = [s for s in scopes if s not in SCOPES]
    if unknown:
        raise InvalidInput(
            "Unknown scope",
            errors=[
                f"Unknown scope '{s}'; use one of {', '.join(SCOPES)} "
                f"(or {', '.join(SCOPE_ALIASES)})"
                for s in unknown
            ],
        )
    if not scopes:
        raise InvalidInput("No scopes", errors=["A key needs at least one scope"])
    return tuple(dict.fromkeys(scopes))


class AuthService:
    """Turns presented secrets into principals and creates keys."""

    def __init__(self, store: StorePort, clock: Clock) -> None:
        self.store = store
        self.clock = clock

    async def authenticate(self, secret: str | None) -> Principal:
        """The principal for a presented key secret, or Unauthorized."""
        if not secret:
            raise Unauthorized("An API key is required (Authorization: Bearer <key>)")
        digest = hash_key(secret)
        async with self.store.read() as tx:
            key = await tx.get_api_key_by_hash(digest)
        if key is None:
            raise Unauthorized("The API key is invalid or revoked")
        now = self.clock.now()
        if key.last_used_at is None or now - key.last_used_at > _TOUCH_INTERVAL:
            async with self.store.write() as tx:
                await tx.touch_api_key(key.id, now)
        return Principal(
            workspace_id=key.workspace_id,
            key_id=key.id,
            name=key.name,
            scopes=key.scopes,
            instance_admin=key.instance_admin,
        )

    async def operator(self, workspace_slug: str) -> Principal:
        """Full rights over a workspace, for operator commands that hold the database itself."""
        async with self.store.read() as tx:
            ws = await tx.get_workspace_by_slug(workspace_slug)
        if ws is None:
            raise NotFound(f"Workspace '{workspace_slug}' not found")
        return Principal(
            workspace_id=ws.id,
            key_id="operator",
            name="operator",
            scopes=("workflows:admin",),
            instance_admin=True,
        )

    async def create_key(
        self,
        workspace_id: str,
        name: str,
        scopes: Sequence[str],
        *,
        instance_admin: bool = False,
        secret: str | None = None,
    ) -> tuple[ApiKey, str]:
        """Create a key; returns its record and the secret (shown once)."""
        secret = secret or generate_key()
        key = ApiKey(
            id=new_id("key"),
            workspace_id=workspace_id,
            name=name,
            prefix=secret[:12],
            scopes=check_scopes(scopes),
            instance_admin=instance_admin,
            created_at=self.clock.now(),
        )
        async with self.store.write() as tx:
            await tx.insert_api_key(key, hash_key(secret))
        return key, secret

    async def bootstrap(self, bootstrap_key: str | None) -> str | None:
        """Create the `default` workspace and an admin key on first start.

        Returns the new admin secret when one was created, else None.
        """
        now = self.clock.now()
        async with self.store.write() as tx:
            ws = await tx.get_workspace_by_slug("default")
            if ws is None:
                ws = Workspace(id=new_id("ws"), slug="default", name="Default", created_at=now)
                await tx.insert_workspace(ws)
            if bootstrap_key:
                if await tx.get_api_key_by_hash(hash_key(bootstrap_key)) is not None:
                    return None
            elif await tx.count_api_keys() > 0:
                return None
            secret = bootstrap_key or generate_key()
            key = ApiKey(
                id=new_id("key"),
                workspace_id=ws.id,
                name="admin",
                prefix=secret[:12],
                scopes=("workflows:admin",),
                instance_admin=True,
                created_at=now,
            )
            await tx.insert_api_key(key, hash_key(secret))
        return secret
