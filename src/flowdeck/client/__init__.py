"""The Python client for a Flowdeck server: `Client` (sync) and `AsyncClient` (asyncio)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from flowdeck.client.aio import AsyncClient
    from flowdeck.client.sync import Client

__all__ = ["AsyncClient", "Client"]


def __getattr__(name: str) -> Any:
    # httpx loads only when a client is asked for.
    if name == "Client":
        from flowdeck.client.sync import Client

        return Client
    if name == "AsyncClient":
        from flowdeck.client.aio import AsyncClient

        return AsyncClient
    raise AttributeError(f"module 'flowdeck.client' has no attribute {name!r}")
