"""The CLI's server verbs against a real `flowdeck serve`: tables, `--json`, exit codes."""

from __future__ import annotations

import json
import os
import pty
import select
import subprocess
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.e2e.conftest import flowdeck_command
from tests.e2e.shared_server import Shared, shared_server
from tests.support.peer import free_port

# Each test runs a dozen CLI processes; on a loaded machine that takes a while.
pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("cli_remote_e2e"), pytest.mark.timeout(240)]

GATE = """
name: Gate
slug: gate
steps:
  - id: review
    type: approval
    config: {message: Ship it?}
  - id: ship
    type: transform
    config: {value: "{{ steps.review.output.approved }}"}
    depends_on: [review]
"""


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory, database_template: str) -> Iterator[Shared]:
    with shared_server(tmp_path_factory.mktemp("cli"), database_template) as s:
        yield s


class Cli:
    """Runs `flowdeck …` with the shared server in FLOWDECK_SERVER / FLOWDECK_API_KEY and a
    home of its own (no profile or admin.key of the developer's)."""

    def __init__(self, shared: Shared, home: Path) -> None:
        self.home = home
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("FLOWDECK_")}
        self.env.update(
            HOME=str(home),
            COLUMNS="200",
            FLOWDECK_SERVER=shared.url,
            FLOWDECK_API_KEY=shared.key,
            FLOWDECK_CONFIG=str(home / "config.toml"),
        )

    def __call__(
        self, *args: str, env: dict[str, str] | None = None, drop: tuple[str, ...] = ()
    ) -> subprocess.CompletedProcess[str]:
        full = {k: v for k, v in {**self.env, **(env or {})}.items() if k not in drop}
        return subprocess.run(
            [*flowdeck_command(), *args],
            capture_output=True,
            text=True,
            timeout=90,
            env=full,
            stdin=subprocess.DEVNULL,
        )

    def json(self, *args: str) -> Any:
        done = self(*args, "--json")
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)

    def file(self, name: str, text: str) -> str:
        path = self.home / name
        path.write_text(text)
        return str(path)


@pytest.fixture
def cli(shared: Shared, tmp_path: Path) -> Cli:
    return Cli(shared, tmp_path)


def test_version_and_help(cli: Cli) -> None:
    done = cli("--version")
    assert done.returncode == 0 and done.stdout.strip() == "flowdeck 0.1.0"
    helped = cli("--help")
    for verb in ("workflows", "runs", "approve", "apply", "run"):
        assert verb in helped.stdout


def test_apply_renames_and_the_workflows_verbs(cli: Cli) -> None:
    spec = cli.file(
        "report.yaml",
        "name: Report\nslug: report\nsteps:\n  - {id: a, type: transform, config: {value: 1}}\n",
    )
    created = cli("apply", spec)
    assert created.returncode == 0, created.stderr
    assert "report (wf_" in created.stdout and "created at version 1" in created.stdout

    cli.file(
        "report.yaml",
        "name: Report renamed\nslug: report\ntags: [q3]\n"
        "steps:\n  - {id: a, type: transform, config: {value: 2}}\n",
    )
    renamed = cli("apply", spec)
    assert "updated to version 2 (was 1)" in renamed.stdout, renamed.stderr
    assert "changed: definition, name, tags" in renamed.stdout
    again = cli.json("apply", spec)
    assert (
        again["created"] is False and again["changed"] == [] and again["workflow"]["version"] == 2
    )

    listed = cli("workflows", "list", "--search", "Report")
    assert "report" in listed.stdout and "Report renamed" in listed.stdout and "q3" in listed.stdout
    rows = cli.json("workflows", "list", "--search", "Report")["workflows"]
    assert [(w["slug"], w["name"]) for w in rows] == [("report", "Report renamed")]  # one, not two

    shown = cli("workflows", "get", "report")
    assert rows[0]["id"] in shown.stdout and "Report renamed" in shown.stdout
    assert cli.json("workflows", "get", "report")["definition"]["steps"][0]["config"] == {
        "value": 2
    }
    as_yaml = cli("workflows", "get", "report", "--definition")
    assert yaml.safe_load(as_yaml.stdout)["name"] == "Report renamed"
    as_json = cli.json("workflows", "get", "report", "--definition")
    assert as_json["steps"][0]["id"] == "a"

    deleted = cli("workflows", "delete", "report")
    assert deleted.returncode == 0 and "moved to the trash" in deleted.stdout
    gone = cli("workflows", "get", "report")
    assert gone.returncode == 4 and "not found" in gone.stderr
    problem = json.loads(cli("workflows", "get", "report", "--json").stderr)
    assert problem["status"] == 404 and problem["type"] == "urn:flowdeck:problem:not_found"


def test_run_on_a_server_approves_and_prints_the_outputs(cli: Cli, shared: Shared) -> None:
    assert cli("apply", cli.file("gate.yaml", GATE)).returncode == 0
    done = cli("run", "gate", "--approve-all", "--server", shared.url, "--api-key", shared.key)
    assert done.returncode == 0, done.stderr
    outputs = json.loads(done.stdout)  # no `outputs` declared: each step's output
    assert outputs["ship"] is True and outputs["review"]["approved"] is True
    assert "completed" in done.stderr

    hello = Path(__file__).resolve().parents[2] / "examples" / "hello.yaml"
    assert cli("apply", str(hello)).returncode == 0
    greeted = cli("run", "hello", "--input", "name=Ada")
    assert json.loads(greeted.stdout) == {"greeting": "Hello, Ada!", "letters": 3}
    as_json = cli.json("run", "hello", "-i", "name=Bo")
    assert as_json["status"] == "completed" and as_json["output"]["letters"] == 2


def test_run_on_a_server_asks_at_the_terminal(cli: Cli) -> None:
    assert cli("apply", cli.file("gate.yaml", GATE)).returncode == 0
    leader, follower = pty.openpty()
    proc = subprocess.Popen(
        [*flowdeck_command(), "run", "gate"],
        stdin=follower,
        stdout=subprocess.PIPE,
        stderr=follower,
        env={**cli.env, "TERM": "dumb"},
    )
    os.close(follower)
    seen = b""
    answers = [(b"Approve?", b"y\n"), (b"Comment", b"from the terminal\n")]
    deadline = time.monotonic() + 60
    while answers and time.monotonic() < deadline:
        ready, _, _ = select.select([leader], [], [], 1)
        if not ready:
            continue
        try:
            seen += os.read(leader, 4096)
        except OSError:
            break
        prompt, answer = answers[0]
        if prompt in seen:
            os.write(leader, answer)
            seen = b""
            answers.pop(0)
    assert not answers, seen.decode(errors="replace")
    stdout, _ = proc.communicate(timeout=60)
    os.close(leader)
    assert proc.returncode == 0
    review = json.loads(stdout)["review"]
    assert (review["approved"], review["comment"]) == (True, "from the terminal")


def test_detach_watch_approvals_and_runs(cli: Cli) -> None:
    assert cli("apply", cli.file("gate.yaml", GATE)).returncode == 0
    first = cli("run", "gate", "--detach", "--idempotency-key", "order-7")
    again = cli("run", "gate", "--detach", "--idempotency-key", "order-7")
    run_id = first.stdout.strip()
    assert first.returncode == 0 and run_id.startswith("run_") and again.stdout.strip() == run_id

    timed_out = cli("runs", "watch", run_id, "--timeout", "1")
    assert timed_out.returncode == 124 and "still" in timed_out.stderr
    assert f"flowdeck approve {run_id} review" in timed_out.stderr

    assert run_id in cli("approvals").stdout
    pending = cli.json("approvals")["approvals"]
    assert {(a["run_id"], a["step_id"]) for a in pending} >= {(run_id, "review")}
    approved = cli("approve", run_id, "review", "--comment", "ok")
    assert approved.returncode == 0 and "approved" in approved.stdout
    twice = cli("approve", run_id, "review")
    assert twice.returncode == 5 and "already decided" in twice.stderr

    watched = cli("runs", "watch", run_id, "--json")
    assert watched.returncode == 0, watched.stderr
    events = [json.loads(line) for line in watched.stdout.splitlines()]
    assert events[0]["type"] == "run_started" and events[-1]["type"] == "run_completed"
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))

    table = cli("runs", "get", run_id)
    assert "completed" in table.stdout and "review" in table.stdout and "ship" in table.stdout
    detail = cli.json("runs", "get", run_id)
    assert [s["step_id"] for s in detail["step_runs"]] == ["review", "ship"]
    listed = cli("runs", "list", "--workflow", "gate")
    assert run_id in listed.stdout
    assert run_id in {r["id"] for r in cli.json("runs", "list", "-w", "gate")["runs"]}


def test_reject_cancel_and_a_failed_run(cli: Cli) -> None:
    assert cli("apply", cli.file("gate.yaml", GATE)).returncode == 0
    rejected_run = cli("run", "gate", "--detach").stdout.strip()
    _wait_for_approval(cli, rejected_run)
    decision = cli.json("approve", rejected_run, "review", "--reject", "-m", "no")
    assert decision["approved"] is False and decision["comment"] == "no"
    failed = cli("runs", "watch", rejected_run)
    assert failed.returncode == 1 and "failed" in failed.stderr

    cancelled_run = cli.json("run", "gate", "--detach")["run_id"]
    cancelled = cli("runs", "cancel", cancelled_run)
    assert cancelled.returncode == 0 and "cancelled" in cancelled.stdout
    assert cli.json("runs", "get", cancelled_run)["status"] == "cancelled"
    assert cli("runs", "cancel", cancelled_run).returncode == 5  # not active any more


def test_resume_on_the_latest_version(cli: Cli) -> None:
    broken = (
        "name: Fixable\nsteps:\n  - {id: a, type: transform, config: {value: 1}}\n"
        "  - {id: b, type: transform, depends_on: [a],\n"
        "     config: {value: '{{ steps.a.output.missing }}'}}\n"
    )
    spec = cli.file("fixable.yaml", broken)
    assert cli("apply", spec).returncode == 0
    failed = cli("run", "fixable")
    assert failed.returncode == 1 and "failed" in failed.stderr
    run_id = cli.json("runs", "list", "-w", "fixable")["runs"][0]["id"]
    cli.file("fixable.yaml", broken.replace("'{{ steps.a.output.missing }}'", "fixed"))
    assert "version 2" in cli("apply", spec).stdout
    assert cli("runs", "resume", run_id, "--version", "two").returncode == 2
    resumed = cli("runs", "resume", run_id, "--from-step", "b", "--version", "latest")
    assert resumed.returncode == 0 and "(version 2)" in resumed.stdout, resumed.stderr
    assert cli("runs", "watch", run_id).returncode == 0
    assert cli.json("runs", "get", run_id)["output"] is None
    steps = {
        s["step_id"]: s["output"]
        for s in cli.json("runs", "get", run_id)["step_runs"]
        if s["current"]
    }
    assert steps == {"a": 1, "b": "fixed"}


def test_exit_codes_per_error_family(cli: Cli, shared: Shared) -> None:
    nobody = f"http://127.0.0.1:{free_port()}"
    refused = cli("workflows", "list", "--server", nobody)
    assert refused.returncode == 3 and "Cannot reach" in refused.stderr
    assert cli("runs", "get", "run_missing").returncode == 4
    bad = cli.file("bad.yaml", "name: Bad\nsteps:\n  - {id: a, type: nope}\n")
    invalid = cli("apply", bad)
    assert invalid.returncode == 6 and "unknown type" in invalid.stderr
    assert cli("workflows", "list", "--api-key", "fdk_wrong").returncode == 7
    assert cli("apply", cli.file("gate.yaml", GATE)).returncode == 0
    reader = shared.make_key("workflows:read")
    forbidden = cli("run", "gate", "--detach", "--api-key", reader)
    assert forbidden.returncode == 8 and "workflows:run" in forbidden.stderr
    assert cli("run", "gate", "--secret", "A=1", "--server", shared.url).returncode == 2
    with _failing_server() as url:
        broken = cli("workflows", "list", "--server", url)
    assert broken.returncode == 9


def test_profiles_choose_the_server(cli: Cli, shared: Shared) -> None:
    nobody = f"http://127.0.0.1:{free_port()}"
    cli.file(
        "config.toml",
        f'active = "main"\n\n[profiles.main]\nserver = "{shared.url}"\napi_key = "{shared.key}"\n\n'
        f'[profiles.other]\nserver = "{nobody}"\napi_key = "x"\n',
    )
    plain = ("FLOWDECK_SERVER", "FLOWDECK_API_KEY")
    assert cli("workflows", "list", drop=plain).returncode == 0  # the active profile
    assert cli("workflows", "list", "--profile", "other", drop=plain).returncode == 3
    assert cli("workflows", "list", env={"FLOWDECK_PROFILE": "other"}).returncode == 3
    unknown = cli("workflows", "list", "--profile", "nope")
    assert unknown.returncode == 2 and "main, other" in unknown.stderr


def test_apply_prints_the_schedules_it_reconciled(cli: Cli, shared: Shared) -> None:
    headers = {"Authorization": f"Bearer {shared.key}"}
    if httpx.get(f"{shared.url}/api/schema/workflow.json", headers=headers).status_code == 404:
        pytest.skip("this server does not take schedules in a definition file yet")
    text = "name: Cron job\nslug: cron-job\nschedules:\n  - {cron: '0 9 * * *'}\n"
    text += "steps:\n  - {id: a, type: transform, config: {value: 1}}\n"
    spec = cli.file("cron.yaml", text)
    assert "schedule added: 0 9 * * * (UTC)" in cli("apply", spec).stdout
    cli.file("cron.yaml", text.replace("0 9 * * *", "0 18 * * *"))
    moved = cli("apply", spec)
    assert "schedule added: 0 18 * * * (UTC)" in moved.stdout
    assert "schedule removed: 0 9 * * * (UTC)" in moved.stdout


def test_workspace_wide_runs_list(cli: Cli) -> None:
    assert cli("apply", cli.file("gate.yaml", GATE)).returncode == 0
    run_id = cli("run", "gate", "--detach").stdout.strip()
    listed = cli("runs", "list", "--json")
    if listed.returncode == 4 and "No such endpoint" in listed.stderr:
        pytest.skip("this server has no GET /api/runs yet")
    assert run_id in {r["id"] for r in json.loads(listed.stdout)["runs"]}
    assert run_id in cli("runs", "list", "--status", "waiting", "--trigger", "manual").stdout


def _wait_for_approval(cli: Cli, run_id: str) -> None:
    for _ in range(100):
        if run_id in {a["run_id"] for a in cli.json("approvals")["approvals"]}:
            return
    raise AssertionError(f"{run_id} never waited for its approval")


class _Failing(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b"upstream exploded"
        self.send_response(500)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


class _failing_server:
    def __enter__(self) -> str:
        self.server = HTTPServer(("127.0.0.1", 0), _Failing)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return f"http://127.0.0.1:{self.server.server_port}"

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
