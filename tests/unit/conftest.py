"""Fixtures shared by the step handler tests: a local HTTP peer and a shared client."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from flowdeck.engine.egress import parse_allow_list, step_client
from tests.support.peer import HttpPeer, running_peer


@pytest.fixture
async def peer() -> AsyncIterator[HttpPeer]:
    """A running local HTTP server that records requests."""
    async with running_peer() as p:
        yield p


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    """The client handlers share, built as the engine builds it, the peers' loopback opened."""
    async with step_client(parse_allow_list("127.0.0.1"), timeout=10) as client:
        yield client
