"""A real `flowdeck serve` counts failed authentications against the socket peer: without
FLOWDECK_TRUSTED_PROXIES, X-Forwarded-For cannot spread a key-guesser over made-up addresses."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import start_server

pytestmark = pytest.mark.e2e


def test_forwarded_for_is_ignored_without_trusted_proxies(
    tmp_path: Path, database_url: str
) -> None:
    server = start_server(
        tmp_path / "data", database_url, env={"FLOWDECK_AUTH_FAILURES_PER_MINUTE": "3"}
    )
    try:
        with httpx.Client(base_url=server.url, timeout=10) as c:
            statuses = [
                c.get(
                    "/api/workflows",
                    headers={"X-API-Key": "fdk_guess", "X-Forwarded-For": f"203.0.113.{n}"},
                ).status_code
                for n in range(4)
            ]
            assert statuses == [401, 401, 401, 429]
            assert c.get("/healthz").status_code == 200
    finally:
        server.stop()
