"""The data dir is 0700 and its files 0600 (SPEC §9): from the first start, and tightened at
start when an older instance left them looser."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from tests.e2e.conftest import start_server

pytestmark = pytest.mark.e2e

FILES = ("flowdeck.db", "flowdeck.db-wal", "flowdeck.db-shm", "admin.key", "secret.key")


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def modes(data: Path) -> dict[str, int]:
    """The data dir's mode and its files' (the SQLite files exist while the server runs)."""
    return {"": mode(data)} | {name: mode(data / name) for name in FILES}


PRIVATE = {"": 0o700} | dict.fromkeys(FILES, 0o600)


def test_a_fresh_data_dir_is_private(tmp_path: Path) -> None:
    data = tmp_path / "data"
    # SQLite in the data dir, where `flowdeck serve` puts it by default.
    server = start_server(data, f"sqlite:///{data / 'flowdeck.db'}")
    try:
        assert modes(data) == PRIVATE
    finally:
        server.stop()


def test_a_looser_data_dir_is_tightened_at_start(tmp_path: Path) -> None:
    data = tmp_path / "data"
    url = f"sqlite:///{data / 'flowdeck.db'}"
    start_server(data, url).stop()
    data.chmod(0o755)
    for name in FILES:
        if (data / name).exists():  # SQLite removes its WAL and SHM when it closes cleanly
            (data / name).chmod(0o644)
    server = start_server(data, url)
    try:
        assert modes(data) == PRIVATE
        output = server.output()
        assert f"Tightened the permissions of {data} from 0755 to 0700" in output
        assert f"Tightened the permissions of {data / 'admin.key'} from 0644 to 0600" in output
    finally:
        server.stop()
