"""Secret values never leave the engine in clear: every stored or sent value passes here."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

MASK = "***"


class Redactor:
    """Replaces every occurrence of a secret value with `***`, however deeply nested."""

    def __init__(self, secrets: Mapping[str, str] | None = None) -> None:
        self.secrets: dict[str, str] = dict(secrets or {})
        # Longest first, so a secret that contains another is masked whole.
        self._values = sorted({v for v in self.secrets.values() if v}, key=len, reverse=True)

    def redact(self, value: Any) -> Any:
        """`value` with secret values masked; returned unchanged when there are no secrets."""
        if not self._values:
            return value
        return self._walk(value)

    def _walk(self, value: Any) -> Any:
        if isinstance(value, str):
            for secret in self._values:
                if secret in value:
                    value = value.replace(secret, MASK)
            return value
        if isinstance(value, dict):
            return {self._walk(k): self._walk(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self._walk(v) for v in value]
        return value
