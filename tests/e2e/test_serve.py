"""`flowdeck serve` as a process: first start, the README walkthrough, restart."""

from __future__ import annotations

import stat
import subprocess
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import Server, flowdeck_command, start_server
from tests.integration.seeds import cycle, fetch_and_notify, missing_dependency

pytestmark = pytest.mark.e2e


def test_first_start_writes_admin_key_and_serves_the_walkthrough(server: Server) -> None:
    key_file = server.data_dir / "admin.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    key = key_file.read_text().strip()
    assert key in server.output()  # printed once
    h = {"Authorization": f"Bearer {key}"}
    with httpx.Client(base_url=server.url, headers=h, timeout=10) as c:
        created = c.post(
            "/api/workflows",
            json={"definition": fetch_and_notify(), "trigger_type": "manual", "tags": ["n"]},
        )
        assert created.status_code == 201, created.text
        wf_id = created.json()["id"]
        for broken, sentence in (
            (missing_dependency(), "Step 'notify' depends on 'fetch' which doesn't exist"),
            (cycle(), "Cycle detected: step_a → step_b → step_a"),
        ):
            body = c.post("/api/workflows/validate", json={"definition": broken}).json()
            assert sentence in body["errors"]
        d = fetch_and_notify()
        d["steps"][0]["config"]["url"] = "https://api.example.com/v2/data"
        assert c.put(f"/api/workflows/{wf_id}", json={"definition": d}).json()["version"] == 2
        assert len(c.get(f"/api/workflows/{wf_id}/versions").json()["versions"]) == 2
        diff = c.get(f"/api/workflows/{wf_id}/diff", params={"v1": 1, "v2": 2}).json()
        assert diff["summary"] == "Modified 1 step"
        rolled = c.post(f"/api/workflows/{wf_id}/rollback", json={"version": 1}).json()
        assert rolled["version"] == 3
        assert c.get("/api/workflows").json()["total"] == 1


def test_restart_keeps_data_and_does_not_print_a_new_key(tmp_path: Path, database_url: str) -> None:
    data = tmp_path / "data"
    first = start_server(data, database_url)
    key = (data / "admin.key").read_text().strip()
    h = {"Authorization": f"Bearer {key}"}
    try:
        assert (
            httpx.post(
                f"{first.url}/api/workflows", json={"definition": fetch_and_notify()}, headers=h
            ).status_code
            == 201
        )
    finally:
        first.stop()
    second = start_server(data, database_url)
    try:
        assert "shown once" not in second.output()
        listed = httpx.get(f"{second.url}/api/workflows", headers=h).json()
        assert listed["total"] == 1
    finally:
        second.stop()


def test_bootstrap_key_from_environment(tmp_path: Path, database_url: str) -> None:
    key = "fdk_test_bootstrap_key_0123456789abcdefghijklmnop"
    srv = start_server(tmp_path / "data", database_url, env={"FLOWDECK_BOOTSTRAP_API_KEY": key})
    try:
        assert key not in srv.output()
        resp = httpx.get(f"{srv.url}/api/workflows", headers={"X-API-Key": key})
        assert resp.status_code == 200
    finally:
        srv.stop()


def test_validate_command(tmp_path: Path) -> None:
    good = tmp_path / "good.yaml"
    good.write_text(
        "name: Fetch and notify\nsteps:\n"
        "  - id: fetch\n    type: http_request\n    config: {url: 'https://example.com'}\n"
    )
    bad = tmp_path / "bad.json"
    bad.write_text(
        '{"name": "Broken", "steps": [{"id": "notify", "type": "transform", '
        '"config": {"value": 1}, "depends_on": ["fetch"]}]}'
    )
    ok = subprocess.run(
        [*flowdeck_command(), "validate", str(good)], capture_output=True, text=True
    )
    assert ok.returncode == 0, ok.stderr
    fail = subprocess.run(
        [*flowdeck_command(), "validate", str(bad)], capture_output=True, text=True
    )
    assert fail.returncode == 1
    assert "Step 'notify' depends on 'fetch' which doesn't exist" in fail.stderr
    missing = subprocess.run(
        [*flowdeck_command(), "validate", str(tmp_path / "nope.yaml")],
        capture_output=True,
        text=True,
    )
    assert missing.returncode == 2


def test_db_upgrade_command(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'x.db'}"
    for _ in range(2):  # idempotent
        done = subprocess.run(
            [*flowdeck_command(), "db", "upgrade", "--database-url", url],
            capture_output=True,
            text=True,
        )
        assert done.returncode == 0, done.stderr


def test_apply_creates_then_versions(server: Server, tmp_path: Path) -> None:
    key = (server.data_dir / "admin.key").read_text().strip()
    spec = tmp_path / "wf.yaml"
    spec.write_text("name: Applied\nsteps:\n  - {id: a, type: transform, config: {value: 1}}\n")
    cmd = [*flowdeck_command(), "apply", str(spec), "--server", server.url, "--api-key", key]
    first = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert first.returncode == 0, first.stderr
    assert "applied" in first.stdout and "version 1" in first.stdout
    spec.write_text("name: Applied\nsteps:\n  - {id: a, type: transform, config: {value: 2}}\n")
    second = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert "version 2" in second.stdout, second.stderr
    spec.write_text("name: Applied\nsteps:\n  - {id: a, type: nope}\n")
    bad = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert bad.returncode == 6 and "unknown type" in bad.stderr  # 6: invalid


def test_readme_run_walkthrough(server: Server) -> None:
    key = (server.data_dir / "admin.key").read_text().strip()
    examples = Path(__file__).resolve().parents[2] / "examples"
    applied = subprocess.run(
        [
            *flowdeck_command(),
            "apply",
            str(examples / "branching.yaml"),
            "--server",
            server.url,
            "--api-key",
            key,
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "approve-or-auto-accept" in applied.stdout, applied.stderr
    h = {"Authorization": f"Bearer {key}"}
    with httpx.Client(base_url=server.url, headers=h, timeout=10) as c:
        body = {"input_data": {"amount": 1500}}
        first = c.post(
            "/api/workflows/approve-or-auto-accept/run",
            json=body,
            headers={"Idempotency-Key": "order-1042"},
        )
        again = c.post(
            "/api/workflows/approve-or-auto-accept/run",
            json=body,
            headers={"Idempotency-Key": "order-1042"},
        )
        assert first.status_code == 202 and first.json()["run_id"] == again.json()["run_id"]
        run_id = first.json()["run_id"]
        with c.stream("GET", f"/api/workflows/runs/{run_id}/stream?api_key={key}") as stream:
            names = [
                line.removeprefix("event: ").strip()
                for line in stream.iter_lines()
                if line.startswith("event:")
            ]
        assert names[0] == "run_started" and names[-1] == "run_completed"
        assert "step_skipped" in names
        run = c.get(f"/api/workflows/runs/{run_id}").json()["run"]
        assert run["output"] == {"decision": "review"}
