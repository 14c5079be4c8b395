"""One `flowdeck serve` shared by the tests of a module (the client's and the CLI's verbs),
on a database of its own, with a known admin key."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from flowdeck.store.dialect import is_sqlite
from tests.conftest import reset_postgres
from tests.e2e.conftest import Server, launch_server

ADMIN_KEY = "fdk_client_tests_" + "k" * 32


@dataclass
class Shared:
    """The server, its admin key, and a way to make keys with fewer scopes."""

    server: Server
    key: str = ADMIN_KEY

    @property
    def url(self) -> str:
        return self.server.url

    def make_key(self, *scopes: str) -> str:
        """A new key of the default workspace with `scopes`."""
        headers = {"Authorization": f"Bearer {self.key}"}
        body = {"name": f"key-{'-'.join(scopes)}", "scopes": list(scopes)}
        answer = httpx.post(f"{self.url}/api/keys", json=body, headers=headers, timeout=10)
        answer.raise_for_status()
        data = answer.json()
        return str(data["secret"])


@contextmanager
def shared_server(base: Path, database_template: str) -> Iterator[Shared]:
    """Start the server on a copy of the template (SQLite) or on the template database
    itself (PostgreSQL, emptied afterwards)."""
    if is_sqlite(database_template):
        db = base / "flowdeck.db"
        shutil.copy(database_template.removeprefix("sqlite:///"), db)
        url = f"sqlite:///{db}"
    else:
        url = database_template
    server = _start(base / "data", url)
    try:
        yield Shared(server)
    finally:
        server.stop()
        if not is_sqlite(database_template):
            reset_postgres(database_template)


def _start(data_dir: Path, url: str) -> Server:
    # Like conftest's start_server, with more patience: the module's tests all wait on it,
    # and a machine busy with other test processes can take a while to start one.
    for _ in range(3):
        server = launch_server(data_dir, url, env={"FLOWDECK_BOOTSTRAP_API_KEY": ADMIN_KEY})
        try:
            server.wait_ready(timeout=120)
            return server
        except RuntimeError:
            if "address already in use" not in server.output():
                raise
    raise RuntimeError(f"no free port for flowdeck serve:\n{server.output()}")
