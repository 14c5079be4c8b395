"""The engine's template renderer: cheap templates inline, long ones off the event loop."""

from __future__ import annotations

import asyncio
import statistics
import time

import pytest

from flowdeck.domain.templating import Budget, TemplateError
from flowdeck.engine.rendering import TemplateRenderer

# Each `in` scans 20,000 items: slow per iteration, few iterations, nothing built.
SLOW_LOOP = (
    "{% set l = range(20000)|list %}"
    "{% for i in range(100000) %}{% if -1 in l %}{% endif %}{% endfor %}done"
)


async def test_a_long_render_leaves_the_event_loop_free() -> None:
    loop = asyncio.get_running_loop()
    gaps: list[float] = []

    async def heartbeat() -> None:
        last = loop.time()
        while True:
            await asyncio.sleep(0.01)
            gaps.append(loop.time() - last)
            last = loop.time()

    beating = asyncio.create_task(heartbeat())
    with pytest.raises(TemplateError, match=r"took longer than 1\.5 s of CPU time"):
        await TemplateRenderer(Budget(seconds=1.5)).render({"a": SLOW_LOOP + " 1"}, {})
    beating.cancel()
    # Rendered on the loop, the heartbeat would have stopped for the whole 1.5 s.
    assert statistics.median(gaps) < 0.05
    assert max(gaps) < 0.5, max(gaps)


async def test_a_cancelled_render_frees_its_thread() -> None:
    renderer = TemplateRenderer(Budget(seconds=60))
    slow = [asyncio.create_task(renderer.render(f"{SLOW_LOOP} {i}", {})) for i in range(4)]
    await asyncio.sleep(0.3)
    for task in slow:
        task.cancel()
    await asyncio.gather(*slow, return_exceptions=True)
    started = time.perf_counter()
    # Long enough to leave the event loop for a thread, which must be free again soon.
    assert await renderer.render("{% for i in range(100000) %}{% endfor %}ok", {}) == "ok"
    assert time.perf_counter() - started < 5


async def test_a_steps_timeout_lowers_the_time_budget() -> None:
    renderer = TemplateRenderer()
    with pytest.raises(TemplateError, match=r"took longer than 0\.7 s of CPU time"):
        await renderer.render(f"{SLOW_LOOP} 2", {}, step_timeout=0.2)
    assert await renderer.evaluate("1 + 1", {}, step_timeout=0.2) == 2


async def test_cheap_templates_render_as_before() -> None:
    renderer = TemplateRenderer()
    context = {"steps": {"prev": {"output": 41}}}
    assert await renderer.render("{{ steps.prev.output + 1 }}", context) == 42
    assert await renderer.render({"a": ["x {{ steps.prev.output }}"]}, context) == {"a": ["x 41"]}
    assert await renderer.evaluate("steps.prev.output > 40", context) is True
