"""Workspace secrets for the engine: decrypted on demand, cached briefly, used to redact."""

from __future__ import annotations

import time
from collections.abc import Callable

from flowdeck.engine.ports import EngineTx
from flowdeck.engine.redaction import Redactor

_EMPTY = Redactor()


class SecretCache:
    """Per-workspace redactors; a change is seen at once here and within `ttl` elsewhere."""

    def __init__(self, decrypt: Callable[[str], str] | None, ttl: float = 2.0) -> None:
        self._decrypt = decrypt
        self._ttl = ttl
        self._items: dict[str, tuple[float, Redactor]] = {}

    async def get(self, tx: EngineTx, workspace_id: str) -> Redactor:
        """The redactor (and secret values) of a workspace."""
        if self._decrypt is None:
            return _EMPTY
        now = time.monotonic()
        cached = self._items.get(workspace_id)
        if cached is not None and now - cached[0] < self._ttl:
            return cached[1]
        encrypted = await tx.secret_ciphertexts(workspace_id)
        values = {}
        for name, ciphertext in encrypted.items():
            try:
                values[name] = self._decrypt(ciphertext)
            except ValueError:
                continue  # written under another key: unusable, and nothing to mask
        redactor = Redactor(values)
        self._items[workspace_id] = (now, redactor)
        return redactor

    def invalidate(self, workspace_id: str) -> None:
        """Forget a workspace's secrets (they changed in this process)."""
        self._items.pop(workspace_id, None)
