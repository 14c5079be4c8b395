"""Workspace administration: API keys, secrets, workspaces (instance admins)."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from flowdeck.crypto import SecretBox
from flowdeck.domain.clock import Clock
from flowdeck.domain.ids import new_id
from flowdeck.domain.records import ApiKey, Page, Workspace
from flowdeck.errors import Conflict, Forbidden, InvalidInput, NotFound
from flowdeck.services.auth import AuthService, Principal, check_scopes
from flowdeck.services.paging import page_of
from flowdeck.services.ports import StorePort

SECRET_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,99}$")
WORKSPACE_SLUG = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,98}[a-z0-9])?$")
MAX_SECRET_BYTES = 64 * 1024
MAX_KEY_NAME = 200
# Workspace slugs that would shadow Flowdeck's own top-level paths, where seed 000's
# `/{workspace}/…` routes live beside them.
RESERVED_WORKSPACE_SLUGS = frozenset(
    {
        "api",
        "ui",
        "docs",
        "redoc",
        "openapi.json",
        "metrics",
        "healthz",
        "readyz",
        "static",
        "mcp",
        "hooks",
        "public",
        "admin",
        "login",
        "logout",
        "assets",
        "favicon.ico",
        "robots.txt",
    }
)


def check_key_request(name: str, scopes: Sequence[str]) -> tuple[str, tuple[str, ...]]:
    """A new key's trimmed name and checked scopes; InvalidInput listing every problem."""
    errors = []
    name = name.strip()
    if not name:
        errors.append("name must not be empty")
    elif len(name) > MAX_KEY_NAME:
        errors.append(f"name must be at most {MAX_KEY_NAME} characters")
    checked: tuple[str, ...] = ()
    try:
        checked = check_scopes(scopes)
    except InvalidInput as exc:
        errors.extend(exc.errors)
    if errors:
        raise InvalidInput("Invalid key", errors=errors)
    return name, checked


@dataclass(frozen=True)
class SecretInfo:
    """A secret's name and dates; never its value."""

    name: str
    created_at: datetime
    updated_at: datetime


class AdminService:
    """Keys, secrets and workspaces."""

    def __init__(
        self,
        store: StorePort,
        clock: Clock,
        auth: AuthService,
        box: SecretBox,
        *,
        on_secrets_changed: Callable[[str], None] = lambda _workspace_id: None,
    ) -> None:
        self.store = store
        self.clock = clock
        self.auth = auth
        self.box = box
        self.on_secrets_changed = on_secrets_changed

    # -- keys --------------------------------------------------------------------------------

    async def create_key(
        self,
        principal: Principal,
        name: str,
        scopes: Sequence[str],
        *,
        instance_admin: bool = False,
    ) -> tuple[ApiKey, str]:
        """A new key in the caller's workspace; the secret is returned once."""
        principal.require("workflows:admin")
        if instance_admin:
            self._instance_admin(principal)
        name, checked = check_key_request(name, scopes)
        return await self.auth.create_key(
            principal.workspace_id, name, checked, instance_admin=instance_admin
        )

    async def list_keys(
        self, principal: Principal, *, limit: int = 50, offset: int = 0, cursor: str | None = None
    ) -> Page[ApiKey]:
        """The workspace's keys (metadata only), newest first."""
        principal.require("workflows:admin")
        async with self.store.read() as tx:
            keys = await tx.list_api_keys(principal.workspace_id)
        return page_of(keys, lambda k: k.id, limit=limit, offset=offset, cursor=cursor)

    async def revoke_key(self, principal: Principal, key_id: str) -> None:
        """Revoke a key of the workspace; it stops working at once."""
        principal.require("workflows:admin")
        async with self.store.write() as tx:
            if not await tx.revoke_api_key(principal.workspace_id, key_id, self.clock.now()):
                raise NotFound(f"API key '{key_id}' not found")

    # -- secrets -------------------------------------------------------------------------------

    async def put_secret(self, principal: Principal, name: str, value: str) -> bool:
        """Store a secret encrypted; True when it is new."""
        principal.require("workflows:admin")
        errors = []
        if not SECRET_NAME.match(name):
            errors.append(
                f"Secret name '{name}' must start with a letter or _ and use only letters, "
                "digits and _ (at most 100)"
            )
        if len(value.encode()) > MAX_SECRET_BYTES:
            errors.append(f"A secret value may be at most {MAX_SECRET_BYTES} bytes")
        if not value:
            errors.append("A secret value must not be empty")
        if errors:
            raise InvalidInput("Invalid secret", errors=errors)
        async with self.store.write() as tx:
            created = await tx.put_secret(
                principal.workspace_id, name, self.box.encrypt(value), self.clock.now()
            )
        self.on_secrets_changed(principal.workspace_id)
        return created

    async def list_secrets(
        self, principal: Principal, *, limit: int = 50, offset: int = 0, cursor: str | None = None
    ) -> Page[SecretInfo]:
        """Names and dates of the workspace's secrets, by name."""
        principal.require("workflows:admin")
        async with self.store.read() as tx:
            rows = await tx.list_secret_names(principal.workspace_id)
        found = [SecretInfo(name=n, created_at=c, updated_at=u) for n, c, u in rows]
        return page_of(found, lambda s: s.name, limit=limit, offset=offset, cursor=cursor)

    async def delete_secret(self, principal: Principal, name: str) -> None:
        """Delete a secret."""
        principal.require("workflows:admin")
        async with self.store.write() as tx:
            if not await tx.delete_secret(principal.workspace_id, name):
                raise NotFound(f"Secret '{name}' not found")
        self.on_secrets_changed(principal.workspace_id)

    # -- workspaces (instance admins) -----------------------------------------------------------

    def _instance_admin(self, principal: Principal) -> None:
        if not principal.instance_admin:
            raise Forbidden("Only an instance admin key may manage workspaces")

    async def list_workspaces(
        self, principal: Principal, *, limit: int = 50, offset: int = 0, cursor: str | None = None
    ) -> Page[Workspace]:
        """Every workspace on the instance, oldest first."""
        self._instance_admin(principal)
        async with self.store.read() as tx:
            found = await tx.list_workspaces()
        return page_of(found, lambda w: w.id, limit=limit, offset=offset, cursor=cursor)

    async def create_workspace(
        self, principal: Principal, slug: str, name: str | None
    ) -> tuple[Workspace, ApiKey, str]:
        """A new workspace with its first admin key (the secret is returned once)."""
        self._instance_admin(principal)
        if not WORKSPACE_SLUG.match(slug):
            raise InvalidInput(
                "Invalid workspace",
                errors=[f"slug '{slug}' must be lowercase letters, digits and hyphens"],
            )
        if slug in RESERVED_WORKSPACE_SLUGS:
            raise InvalidInput(
                "Invalid workspace",
                errors=[f"slug '{slug}' is reserved for Flowdeck's own paths; choose another"],
            )
        ws = Workspace(id=new_id("ws"), slug=slug, name=name or slug, created_at=self.clock.now())
        async with self.store.write() as tx:
            if await tx.get_workspace_by_slug(slug) is not None:
                raise Conflict(f"A workspace with slug '{slug}' already exists")
            await tx.insert_workspace(ws)
        key, secret = await self.auth.create_key(ws.id, "admin", ("workflows:admin",))
        return ws, key, secret

    async def current_workspace(self, principal: Principal) -> Workspace:
        """The workspace the caller's key belongs to."""
        async with self.store.read() as tx:
            ws = await tx.get_workspace(principal.workspace_id)
        if ws is None:
            raise NotFound("The API key's workspace no longer exists")
        return ws
