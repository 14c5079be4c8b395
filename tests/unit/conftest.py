"""Fixtures shared by the step handler tests: a local HTTP peer and a shared client."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from tests.support.peer import HttpPeer, running_peer


@pytest.fixture
async def peer() -> AsyncIterator[HttpPeer]:
    """A running local HTTP server that records requests."""
    async with running_peer() as p:
        yield p


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    """The client handlers share, as the engine's StepEnvironment does."""
    async with httpx.AsyncClient(timeout=10) as client:
        yield client
