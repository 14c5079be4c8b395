"""Flowdeck: a self-hosted workflow platform."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from flowdeck.client.aio import AsyncClient
    from flowdeck.client.sync import Client

__version__ = "0.1.0"
__all__ = ["AsyncClient", "Client", "__version__"]


def __getattr__(name: str) -> Any:
    # `import flowdeck` stays cheap (the CLI's --help, the server): the client loads on use.
    if name in ("Client", "AsyncClient"):
        from flowdeck import client

        return getattr(client, name)
    raise AttributeError(f"module 'flowdeck' has no attribute {name!r}")
