"""`flowdeck worker`: a process that only runs steps, sharing the database with servers."""

from __future__ import annotations

import asyncio
import signal

from rich.console import Console

from flowdeck.config import Settings
from flowdeck.domain.clock import SystemClock
from flowdeck.services.container import Services
from flowdeck.store.store import Store


async def _serve(settings: Settings, console: Console) -> None:
    store = Store.from_url(settings.resolved_database_url, pool_size=settings.db_pool_size)
    services = Services.build(settings, store, SystemClock())
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    worker = await services.runtime.start_worker()
    console.print(f"Flowdeck worker {worker.id} running on {store.dialect_name}")
    try:
        await stop.wait()
        console.print("Draining: finishing in-flight steps, handing back the rest…")
    finally:
        await services.runtime.close(graceful=True)
        await store.close()
    console.print("Worker stopped.")


def run_worker(settings: Settings, console: Console) -> None:
    """Run until SIGTERM or SIGINT, then drain gracefully."""
    asyncio.run(_serve(settings, console))
