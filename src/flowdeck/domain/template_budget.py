"""What one template render may spend: loop iterations, time, and the size of what it builds.

Templates are untrusted code (SPEC §9). A render runs under a `Meter`, kept in a context
variable so that the hooks Jinja's generated code calls can find it while the template itself
can never see it. Loops and calls tick it, values the template builds are weighed before (when
one operation could make them huge) and after they exist, and the clock is read every few
ticks. Sizes are bytes of payload: characters of a string, eight per slot of a list. Time
is the CPU time of the thread rendering, so that a render waiting for the interpreter (a
loaded machine, other threads) is not cut short for it.
"""

from __future__ import annotations

import itertools
import math
import threading
import time
from collections.abc import Iterator, Mapping
from collections.abc import Set as AbstractSet
from contextvars import ContextVar, Token
from dataclasses import dataclass, replace
from typing import Any

from jinja2.runtime import Undefined
from jinja2.utils import Cycler, Namespace

# The clock and the cancel flag are read once per this many ticks and weighed values.
_CHECK_EVERY = 32


@dataclass(frozen=True, slots=True)
class Budget:
    """The limits of one render: one step's config, one expression, one run's outputs."""

    iterations: int = 1_000_000
    output_bytes: int = 1024 * 1024
    built_bytes: int = 64 * 1024 * 1024
    seconds: float = 5.0

    def within(self, seconds: float | None) -> Budget:
        """This budget with its time lowered to `seconds`, when that is less."""
        if seconds is None or seconds >= self.seconds:
            return self
        return replace(self, seconds=seconds)


DEFAULT_BUDGET = Budget()


class BudgetExceeded(Exception):
    """A render went over its budget; the message says which limit."""


class SliceSpent(Exception):
    """The render ran past its inline time slice: render it again off the event loop."""


class Meter:
    """The running account of one render against its budget."""

    __slots__ = (
        "_cancel",
        "_deadline",
        "_max_built",
        "_max_iterations",
        "_ops",
        "_slice_end",
        "budget",
        "built",
        "cap",
        "iterations",
        "output",
        "sliced",
    )

    def __init__(
        self,
        budget: Budget,
        *,
        slice_seconds: float | None = None,
        cancel: threading.Event | None = None,
    ) -> None:
        now = time.thread_time()
        self.budget = budget
        # The most bytes one value, or the output, may hold.
        self.cap = budget.output_bytes
        self.sliced = slice_seconds is not None
        self.iterations = 0
        self.built = 0
        self.output = 0
        self._ops = 0
        self._max_iterations = budget.iterations
        self._max_built = budget.built_bytes
        self._deadline = now + budget.seconds
        self._slice_end = now + slice_seconds if slice_seconds is not None else math.inf
        self._cancel = cancel
        if cancel is not None and cancel.is_set():
            raise BudgetExceeded("template rendering was stopped")

    def tick(self) -> None:
        """Count one loop iteration or call."""
        self.iterations += 1
        if self.iterations > self._max_iterations:
            raise BudgetExceeded(
                f"template exceeded its budget of {self._max_iterations:,} loop iterations"
            )
        self._ops += 1
        if self._ops >= _CHECK_EVERY:
            self.check_time()

    def pulse(self) -> None:
        """Count one step of other work (compiling): the clock is read every few."""
        self._ops += 1
        if self._ops >= _CHECK_EVERY:
            self.check_time()

    def check_time(self) -> None:
        """Stop the render when its time (or its inline slice) is up, or it was cancelled."""
        self._ops = 0
        now = time.thread_time()
        if now > self._slice_end:
            raise SliceSpent
        if now > self._deadline:
            raise BudgetExceeded(f"template took longer than {self.budget.seconds:g} s of CPU time")
        if self._cancel is not None and self._cancel.is_set():
            raise BudgetExceeded("template rendering was stopped")

    def allow(self, size: int) -> None:
        """Refuse, before building it, a value of about `size` bytes when that is too large."""
        if size > self.cap:
            raise BudgetExceeded(
                f"template exceeded its budget of {self.cap:,} bytes for one value "
                f"(it tried to build about {size:,})"
            )

    def build(self, size: int) -> None:
        """Count `size` bytes the template has just built."""
        if size <= 0:
            return
        if size > self.cap:
            self.allow(size)
        self.built += size
        if self.built > self._max_built:
            raise BudgetExceeded(
                f"template exceeded its budget of {self._max_built:,} bytes built in one render"
            )
        self._ops += 1
        if self._ops >= _CHECK_EVERY:
            self.check_time()

    def write(self, size: int) -> None:
        """Count `size` characters of the render's own output."""
        self.output += size
        if self.output > self.cap:
            raise BudgetExceeded(f"template output exceeded its budget of {self.cap:,} bytes")
        self.build(size)


_METER: ContextVar[Meter | None] = ContextVar("flowdeck_template_meter", default=None)


def current_meter() -> Meter:
    """The meter of the render in progress; refusing work outside any render.

    Jinja folds constant expressions while compiling, outside any render: refusing there makes
    it leave them to run time, where they are metered.
    """
    meter = _METER.get()
    if meter is None:
        raise BudgetExceeded("templates run only under a budget")
    return meter


def active_meter() -> Meter | None:
    """The meter of the render in progress, if any."""
    return _METER.get()


def enter(meter: Meter) -> Token[Meter | None]:
    """Make `meter` the one the template hooks charge, until `leave(token)`."""
    return _METER.set(meter)


def leave(token: Token[Meter | None]) -> None:
    """Restore the meter that was current before `enter`."""
    _METER.reset(token)


def payload(value: Any) -> int:
    """Bytes a freshly built value holds itself (not counting what it refers to)."""
    if value is None or type(value) in _SMALL:
        return 0
    if isinstance(value, str | bytes | bytearray):
        return len(value)
    if isinstance(value, list | tuple | set | frozenset):
        return 8 * len(value)
    if isinstance(value, dict):
        return 16 * len(value)
    if isinstance(value, int):
        return value.bit_length() // 8
    if isinstance(value, Namespace):
        return payload(object.__getattribute__(value, "_Namespace__attrs"))
    if isinstance(value, Cycler):
        return 8 * len(value.items)
    return 0


_END = object()
_SMALL = frozenset({bool, float})


def estimate(value: Any, cap: int, indent: int | str = 0) -> int:
    """About how many characters `value` takes written out (as JSON or `str`), deeply.

    Shared references count each time they are reached, as writing them out would; the walk
    stops as soon as the count passes `cap`, so it costs at most about `cap` steps. `indent` is
    the pretty-printing indent per nesting level.
    """
    step = len(indent) if isinstance(indent, str) else max(int(indent or 0), 0)
    total = 0
    stack: list[tuple[Iterator[Any], int]] = []
    item: Any = value
    depth = 0
    while True:
        total += _own_size(item, depth, step, stack)
        if total > cap:
            return total
        while stack:
            children, level = stack[-1]
            nxt = next(children, _END)
            if nxt is _END:
                stack.pop()
                continue
            item, depth = nxt, level
            break
        else:
            return total


def _own_size(item: Any, depth: int, step: int, stack: list[tuple[Iterator[Any], int]]) -> int:
    """The size of `item` without its children, which it pushes on `stack`."""
    if isinstance(item, str | bytes | bytearray):
        return len(item) + 2
    if item is None or isinstance(item, bool | float):
        return 24 if isinstance(item, float) else 5
    if isinstance(item, int):
        return item.bit_length() * 3 // 10 + 2
    if isinstance(item, Undefined):
        return 0
    if isinstance(item, range):
        bits = max(abs(item.start), abs(item.stop)).bit_length()
        return len(item) * (bits * 3 // 10 + 3)
    if isinstance(item, Namespace):
        item = object.__getattribute__(item, "_Namespace__attrs")
    elif isinstance(item, Cycler):
        item = item.items
    if isinstance(item, Mapping):
        stack.append((itertools.chain.from_iterable(item.items()), depth + 1))
        return 2 + len(item) * (4 + step * (depth + 1))
    if isinstance(item, list | tuple | AbstractSet) or _is_view(item):
        stack.append((iter(item), depth + 1))
        return 2 + len(item) * (2 + step * (depth + 1))
    return 64  # any other object writes out as a short repr


def _is_view(item: Any) -> bool:
    return type(item).__name__ in ("dict_keys", "dict_values", "dict_items")


def text_size(value: Any, cap: int) -> int:
    """About how many characters `str(value)` has: exact for strings, else `estimate`."""
    if isinstance(value, str):
        return len(value)
    return estimate(value, cap)
