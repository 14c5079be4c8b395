"""`flowdeck worker`: a process that only runs steps, sharing the database with servers."""

from __future__ import annotations

import asyncio
import logging
import signal

from rich.console import Console

from flowdeck.config import Settings
from flowdeck.domain.clock import SystemClock
from flowdeck.filemodes import secure_data_dir
from flowdeck.logs import configure_logging
from flowdeck.services.container import Services
from flowdeck.store.store import Store
from flowdeck.telemetry import configure_tracing


async def _serve(settings: Settings, console: Console) -> None:
    store = Store.from_url(settings.resolved_database_url, pool_size=settings.db_pool_size)
    services = Services.build(settings, store, SystemClock())
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await services.announce_script_sandbox()
    worker = await services.runtime.start_worker()
    status_line(settings, console, f"Flowdeck worker {worker.id} running on {store.dialect_name}")
    try:
        await stop.wait()
        status_line(
            settings, console, "Draining: finishing in-flight steps, handing back the rest…"
        )
    finally:
        await services.runtime.close(graceful=True)
        await store.close()
    status_line(settings, console, "Worker stopped.")


def status_line(settings: Settings, console: Console, message: str) -> None:
    """Tell the operator: a plain line, or a log record when logs are JSON (one per line)."""
    if settings.log_format == "json":
        logging.getLogger("flowdeck.cli").info(message)
    else:
        console.print(message, highlight=False)


def run_worker(settings: Settings, console: Console) -> None:
    """Run until SIGTERM or SIGINT, then drain gracefully."""
    configure_logging(settings.log_format, settings.log_level)
    if settings.data_dir.is_dir():  # a worker on PostgreSQL may have no data dir of its own
        secure_data_dir(settings.data_dir)
    configure_tracing("flowdeck-worker")
    if settings.metrics_port is not None:
        from prometheus_client import start_http_server

        # Binds FLOWDECK_HOST (127.0.0.1 unless told otherwise), like `flowdeck serve`.
        try:
            start_http_server(settings.metrics_port, addr=settings.host)
        except OSError as exc:  # steps matter more than metrics: run without them
            logging.getLogger("flowdeck.cli").error(
                "cannot serve metrics on %s:%s (%s); running without",
                settings.host,
                settings.metrics_port,
                exc.strerror,
            )
        else:
            status_line(
                settings,
                console,
                f"Worker metrics on http://{settings.host}:{settings.metrics_port}/metrics",
            )
    asyncio.run(_serve(settings, console))
