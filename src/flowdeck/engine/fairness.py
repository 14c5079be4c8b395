"""Workspaces take turns at admission: the one served least recently goes first."""

from __future__ import annotations

import itertools
from collections.abc import Sequence

from flowdeck.domain.records import Run


class Turns:
    """Remembers when each workspace last had a run admitted by this process.

    The store hands over each workspace's oldest queued runs; runs at the same place in
    their workspace's queue go by who was served last, so a workspace with a long backlog
    yields to one that waits instead of winning every tie by being older. This is one
    process's memory: with several admitting processes a waiting workspace may wait one
    round per process.
    """

    def __init__(self) -> None:
        self._clock = itertools.count(1)
        self._last: dict[str, int] = {}

    def order(self, queue: Sequence[Run]) -> list[Run]:
        """`queue` (in the store's order) with ties broken by least recently served."""
        rank = {run.id: i for i, run in enumerate(queue)}
        place: dict[str, int] = {}
        keyed = []
        for run in queue:
            place[run.workspace_id] = place.get(run.workspace_id, 0) + 1
            keyed.append(
                (place[run.workspace_id], self._last.get(run.workspace_id, 0), rank[run.id], run)
            )
        return [run for *_, run in sorted(keyed, key=lambda k: k[:3])]

    def served(self, workspace_id: str) -> None:
        """A run of `workspace_id` was admitted."""
        self._last[workspace_id] = next(self._clock)
