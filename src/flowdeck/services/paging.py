"""Paging for short lists that are read whole (keys, secrets, workspaces): limit/offset, or a
cursor naming the last item seen."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

from flowdeck.domain.records import Page
from flowdeck.errors import InvalidInput

T = TypeVar("T")


def page_of(
    items: Sequence[T],
    key: Callable[[T], str],
    *,
    limit: int,
    offset: int = 0,
    cursor: str | None = None,
) -> Page[T]:
    """A page of `items` (already in order); `next_cursor` is the key of its last item."""
    start = offset
    if cursor is not None:
        keys = [key(item) for item in items]
        if cursor not in keys:
            raise InvalidInput("Invalid cursor", errors=[f"cursor '{cursor}' is not in this list"])
        start = keys.index(cursor) + 1
    chosen = list(items[start : start + limit])
    more = start + limit < len(items)
    return Page(items=chosen, total=len(items), next_cursor=key(chosen[-1]) if more else None)
