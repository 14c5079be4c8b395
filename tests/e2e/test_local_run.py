"""`flowdeck run` on one's own machine: secrets, approvals at the terminal, step outputs."""

from __future__ import annotations

import json
import os
import pty
import select
import subprocess
import time
from pathlib import Path

import pytest

from tests.e2e.conftest import flowdeck_command

pytestmark = pytest.mark.e2e

GATED = """
name: Gated
steps:
  - id: check
    type: condition
    config: {expression: "secrets.TOKEN == 'abc123xyz'", then: [review], else: []}
  - id: review
    type: approval
    config: {message: Ship it}
    depends_on: [check]
  - id: ship
    type: transform
    config: {value: "{{ steps.review.output.approved }}"}
    depends_on: [review]
"""


def _gated(tmp_path: Path) -> Path:
    path = tmp_path / "gated.yaml"
    path.write_text(GATED)
    return path


def test_secrets_and_approve_all_and_each_steps_output(tmp_path: Path) -> None:
    env_file = tmp_path / "secrets.env"
    env_file.write_text("# for the check\nexport TOKEN='abc123xyz'\n\nOTHER=1\n")
    done = subprocess.run(
        [
            *flowdeck_command(),
            "run",
            str(_gated(tmp_path)),
            "--secrets-file",
            str(env_file),
            "--approve-all",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    outputs = json.loads(done.stdout)  # no `outputs` declared: every step's output
    assert outputs["check"] == {"result": True, "branch": "then"}
    assert outputs["review"]["approved"] is True
    assert outputs["ship"] is True
    assert "abc123xyz" not in done.stdout + done.stderr


def test_a_bad_secret_option_is_a_usage_error(tmp_path: Path) -> None:
    done = subprocess.run(
        [*flowdeck_command(), "run", str(_gated(tmp_path)), "--secret", "TOKEN"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "--secret takes NAME=VALUE" in done.stderr


def test_an_approval_is_asked_at_the_terminal(tmp_path: Path) -> None:
    leader, follower = pty.openpty()
    proc = subprocess.Popen(
        [*flowdeck_command(), "run", str(_gated(tmp_path)), "--secret", "TOKEN=abc123xyz"],
        stdin=follower,
        stdout=subprocess.PIPE,
        stderr=follower,
        env={**os.environ, "TERM": "dumb", "COLUMNS": "120"},
    )
    os.close(follower)
    seen = b""
    answers = [(b"Approve?", b"y\n"), (b"Comment", b"looks good\n")]
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
    assert (review["approved"], review["comment"]) == (True, "looks good")
