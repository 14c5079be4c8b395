"""Ids are prefixed, fixed-length and sort in creation order, even within one millisecond."""

from __future__ import annotations

from flowdeck.domain.ids import new_id


def test_ids_sort_in_creation_order() -> None:
    ids = [new_id("run") for _ in range(5000)]
    assert ids == sorted(ids)
    assert len(set(ids)) == len(ids)
    assert all(i.startswith("run_") and len(i) == 30 for i in ids)
