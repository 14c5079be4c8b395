"""Ending the worker's background tasks."""

from __future__ import annotations

import asyncio
import contextlib


async def finish_task(task: asyncio.Task[None] | None, seconds: float) -> None:
    """Wait for a loop that was told to end; cancel it if it takes longer than `seconds`."""
    if task is None:
        return
    try:
        async with asyncio.timeout(seconds):
            await asyncio.shield(task)
    except TimeoutError:
        await cancel_task(task)


async def cancel_task(task: asyncio.Task[None] | None) -> None:
    if task is None:
        return
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
