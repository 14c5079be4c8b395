"""`flowdeck db backup` while runs execute, `flowdeck db restore` into a fresh data dir: the
restored server decrypts its secrets and finishes the runs the backup caught in flight."""

from __future__ import annotations

import signal
import stat
import subprocess
import tarfile
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import Target, _process_env, flowdeck_command, start_server

pytestmark = pytest.mark.e2e
SECRET = "s3cr3t-value-for-backups"
# Short leases: the restored server takes back the steps the old one had in flight at once.
ENV = {"FLOWDECK_LEASE_SECONDS": "2", "FLOWDECK_HEARTBEAT_SECONDS": "0.5"}


def _db(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*flowdeck_command(), "db", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=_process_env(None),
    )


def _definition(url: str) -> dict[str, Any]:
    return {
        "name": "Backed up",
        "steps": [
            {
                "id": "fetch",
                "type": "http_request",
                "config": {"method": "GET", "url": url, "expect_status": [200]},
            },
            {
                "id": "check",
                "type": "transform",
                "depends_on": ["fetch"],
                "config": {"value": f"{{{{ 'yes' if secrets.TOKEN == '{SECRET}' else 'no' }}}}"},
            },
        ],
        "outputs": [{"name": "decrypted", "value": "{{ steps.check.output }}"}],
    }


def _status(c: httpx.Client, run_id: str) -> Any:
    return c.get(f"/api/workflows/runs/{run_id}").json()["run"]


@pytest.mark.timeout(300)  # two servers and three CLI processes, one after another
def test_a_backup_taken_while_runs_execute_restores_and_finishes_them(
    tmp_path: Path, database_url: str
) -> None:
    if not database_url.startswith("sqlite"):
        pytest.skip("SQLite's online backup; PostgreSQL backups are pg_dump's (tested below)")
    target = Target()
    first_dir, restored_dir = tmp_path / "first" / "data", tmp_path / "restored" / "data"
    first_dir.parent.mkdir()
    bundle = tmp_path / "flowdeck-backup.tar.gz"
    first = start_server(first_dir, f"sqlite:///{first_dir / 'flowdeck.db'}", env=ENV)
    try:
        key = (first_dir / "admin.key").read_text().strip()
        h = {"Authorization": f"Bearer {key}"}
        with httpx.Client(base_url=first.url, headers=h, timeout=10) as c:
            assert c.put("/api/secrets/TOKEN", json={"value": SECRET}).status_code == 201
            wf = c.post("/api/workflows", json={"definition": _definition(target.url)})
            assert wf.status_code == 201, wf.text
            runs = []
            for _ in range(3):
                run_id = c.post(f"/api/workflows/{wf.json()['id']}/run", json={}).json()["run_id"]
                target.hold([f"{run_id}:fetch"])  # its fetch stays in flight until released
                runs.append(run_id)
            deadline = time.monotonic() + 20
            while len(target.holding()) < len(runs):
                assert time.monotonic() < deadline, target.holding()
                time.sleep(0.05)
            made = _db("backup", str(bundle), "--data-dir", str(first_dir))
            assert made.returncode == 0, made.stderr
            assert "flowdeck.db" in made.stdout and "secret.key" in made.stdout
            assert all(_status(c, r)["status"] == "running" for r in runs)
    finally:
        first.stop(signal.SIGKILL)  # the old instance is gone for good, mid-run
        target.release()
    assert stat.S_IMODE(bundle.stat().st_mode) == 0o600
    with tarfile.open(bundle) as tar:
        assert {"manifest.json", "secret.key", "flowdeck.db", "admin.key"} <= set(tar.getnames())

    restored = _db("restore", str(bundle), "--data-dir", str(restored_dir))
    assert restored.returncode == 0, restored.stderr
    assert f"flowdeck serve --data-dir {restored_dir}" in restored.stdout
    assert stat.S_IMODE((restored_dir / "secret.key").stat().st_mode) == 0o600
    again = _db("restore", str(bundle), "--data-dir", str(restored_dir))
    assert again.returncode == 1 and "restore into an empty data dir" in again.stderr

    second = start_server(restored_dir, f"sqlite:///{restored_dir / 'flowdeck.db'}", env=ENV)
    try:
        with httpx.Client(base_url=second.url, headers=h, timeout=10) as c:
            deadline = time.monotonic() + 120
            while any(_status(c, r)["status"] != "completed" for r in runs):
                ended = [r for r in runs if _status(c, r)["status"] in ("failed", "cancelled")]
                assert not ended, [_status(c, r) for r in ended]
                assert time.monotonic() < deadline, [_status(c, r)["status"] for r in runs]
                time.sleep(0.2)
            for run_id in runs:
                assert _status(c, run_id)["output"] == {"decrypted": "yes"}
    finally:
        second.stop()
        target.close()
    assert "ASGI callable" not in second.output()


def test_a_postgresql_backup_bundles_the_key(tmp_path: Path, database_url: str) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("runs on the PostgreSQL suite")
    data = tmp_path / "data"
    server = start_server(data, database_url)
    server.stop()
    bundle = tmp_path / "pg.tar.gz"
    made = _db("backup", str(bundle), "--data-dir", str(data), "--database-url", database_url)
    assert made.returncode == 0, made.stderr
    with tarfile.open(bundle) as tar:
        names = set(tar.getnames())
        key = tar.extractfile("secret.key")
        assert key is not None and key.read() == (data / "secret.key").read_bytes()
    assert {"manifest.json", "secret.key"} <= names
    restored = _db("restore", str(bundle), "--data-dir", str(tmp_path / "restored"))
    assert restored.returncode == 0, restored.stderr
    assert "pg_restore" in restored.stderr or "PostgreSQL backup" in restored.stderr
    assert (tmp_path / "restored" / "secret.key").read_bytes() == (data / "secret.key").read_bytes()


def test_restore_refuses_what_is_not_a_backup(tmp_path: Path) -> None:
    junk = tmp_path / "junk.tar.gz"
    with tarfile.open(junk, "w:gz") as tar:
        tar.add(__file__, arcname="../../etc/evil")
    done = _db("restore", str(junk), "--data-dir", str(tmp_path / "d"))
    assert done.returncode == 1 and "Not a Flowdeck backup" in done.stderr
    assert not (tmp_path / "d").exists()
    missing = _db("restore", str(tmp_path / "nope.tar.gz"), "--data-dir", str(tmp_path / "d"))
    assert missing.returncode == 1 and "Cannot read" in missing.stderr
