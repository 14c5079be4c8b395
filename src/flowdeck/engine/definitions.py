"""Compiled workflow versions, cached: a version is immutable, so caching is always safe."""

from __future__ import annotations

from collections import OrderedDict

from flowdeck.engine.compiled import CompiledWorkflow
from flowdeck.engine.ports import EngineTx


class DefinitionCache:
    """LRU of compiled (workflow_id, version) pairs."""

    def __init__(self, size: int = 512) -> None:
        self._size = size
        self._items: OrderedDict[tuple[str, int], CompiledWorkflow] = OrderedDict()

    async def get(self, tx: EngineTx, workflow_id: str, version: int) -> CompiledWorkflow:
        """The compiled definition of that version."""
        key = (workflow_id, version)
        found = self._items.get(key)
        if found is not None:
            self._items.move_to_end(key)
            return found
        stored = await tx.get_version(workflow_id, version)
        if stored is None:
            raise LookupError(f"Workflow {workflow_id} has no version {version}")
        compiled = CompiledWorkflow.from_dict(stored.definition)
        self._items[key] = compiled
        if len(self._items) > self._size:
            self._items.popitem(last=False)
        return compiled
