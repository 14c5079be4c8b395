"""The engine tier: the run transaction and the worker on the real database, no HTTP."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.engine.harness import Engine, engine_on


@pytest.fixture
async def engine(database_url: str, tmp_path: Path) -> AsyncIterator[Engine]:
    """An engine on a fresh database with a fake clock and a hand-driven worker."""
    async with engine_on(database_url, tmp_path / "data") as e:
        yield e
