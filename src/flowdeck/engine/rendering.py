"""Rendering templates without stalling the event loop: inline while cheap, else on a thread.

Almost every template (`{{ steps.prev.output + 1 }}`) renders in microseconds, so it renders
right on the event loop, given a short time slice. One that runs past its slice (a long loop,
a long template) is dropped and rendered again from the start on a worker thread, where its
whole budget applies: the interpreter switches threads every few milliseconds, so the loop
keeps answering meanwhile. A template that once ran past its slice goes straight to a thread.
If the awaiting task is cancelled (a step's timeout, a worker shutting down), the thread's
render stops at its next check.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from functools import partial
from typing import Any

from flowdeck.domain.templating import (
    DEFAULT_BUDGET,
    Budget,
    SliceSpent,
    evaluate_expression,
    render_value,
)

# Inline renders hold the event loop for about this much CPU time at most before moving to
# a thread.
SLICE_SECONDS = 0.01
_BACKSTOP_SECONDS = 0.5
# Few threads: each one competes with the event loop for the interpreter.
_THREADS = 2
_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def _executor() -> ThreadPoolExecutor:
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(_THREADS, thread_name_prefix="flowdeck-template")
        return _pool


@dataclass(frozen=True)
class TemplateRenderer:
    """Renders templates and expressions under `budget`, off the event loop when they run long."""

    budget: Budget = DEFAULT_BUDGET
    # Inside a run transaction (a pure step executed where it became ready): never wait for
    # a thread while holding the database; `SliceSpent` tells the caller to run it elsewhere.
    slice_only: bool = False

    def in_transaction(self) -> TemplateRenderer:
        """This renderer, giving up (`SliceSpent`) instead of moving to a thread."""
        return replace(self, slice_only=True)

    async def render(
        self, value: Any, context: Mapping[str, Any], *, step_timeout: float | None = None
    ) -> Any:
        """Render every template inside `value`; a step's timeout (seconds) lowers the time."""
        return await self._run(render_value, value, context, step_timeout)

    async def evaluate(
        self, expression: str, context: Mapping[str, Any], *, step_timeout: float | None = None
    ) -> Any:
        """Evaluate an expression; a step's timeout (seconds) lowers the time budget."""
        return await self._run(evaluate_expression, expression, context, step_timeout)

    async def _run(
        self,
        function: Callable[..., Any],
        subject: Any,
        context: Mapping[str, Any],
        step_timeout: float | None,
    ) -> Any:
        # The step's own timeout cancels the render (and fails the step as a timeout); the
        # lowered budget is the backstop should that cancellation never come.
        lowered = None if step_timeout is None else step_timeout + _BACKSTOP_SECONDS
        budget = self.budget.within(lowered)
        try:
            return function(subject, context, budget, slice_seconds=SLICE_SECONDS)
        except SliceSpent:
            if self.slice_only:
                raise
        stop = threading.Event()
        job = partial(function, subject, context, budget, cancel=stop)
        try:
            return await asyncio.get_running_loop().run_in_executor(_executor(), job)
        except asyncio.CancelledError:
            stop.set()
            raise
