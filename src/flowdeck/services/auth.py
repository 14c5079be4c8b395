"""API keys: generation, hashing, authentication, scopes and first-start bootstrap."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

from flowdeck.domain.clock import Clock
from flowdeck.domain.ids import new_id
from flowdeck.domain.records import SCOPES, ApiKey, Workspace
from flowdeck.errors import Forbidden, InvalidInput, Unauthorized
from flowdeck.services.ports import StorePort

KEY_PREFIX = "fdk_"
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


def check_scopes(scopes: Sequence[str]) -> tuple[str, ...]:
    """Validate a list of scope names."""
    unknown = [s for s in scopes if s not in SCOPES]
    if unknown:
        raise InvalidInput(
            "Unknown scope",
            errors=[f"Unknown scope '{s}'; use one of {', '.join(SCOPES)}" for s in unknown],
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
