"""The engine tier: the run transaction and the worker on the real database, no HTTP."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.engine.harness import Engine, engine_on
from tests.support.peer import HttpPeer, running_peer


@pytest.fixture
async def engine(database_url: str, tmp_path: Path) -> AsyncIterator[Engine]:
    """An engine on a fresh database with a fake clock and a hand-driven worker."""
    async with engine_on(database_url, tmp_path / "data") as e:
        yield e


@pytest.fixture
async def peer() -> AsyncIterator[HttpPeer]:
    """A local HTTP server standing in for the outside world."""
    async with running_peer() as p:
        yield p
