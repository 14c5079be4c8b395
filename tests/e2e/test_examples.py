"""Every example validates; the offline ones run with `flowdeck run` and give their outputs."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.e2e.conftest import flowdeck_command

pytestmark = pytest.mark.e2e
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

OFFLINE = {
    "hello.yaml": (["name=Ada"], {"greeting": "Hello, Ada!", "letters": 3}),
    "branching.yaml": (["amount=1500"], {"decision": "review"}),
    "etl-loop.yaml": ([], {"rows": 3, "revenue": 174.0}),
    "retry-and-cleanup.yaml": ([], {"attempt": 3, "cleanup": "cleaned up"}),
    "wait-and-continue.yaml": ([], {"message": "waited 1.0s"}),
}


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.yaml")), ids=lambda p: p.name)
def test_example_validates(path: Path) -> None:
    done = subprocess.run(
        [*flowdeck_command(), "validate", str(path)], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize("name", sorted(OFFLINE))
def test_offline_example_runs(name: str) -> None:
    inputs, expected = OFFLINE[name]
    args = [arg for pair in inputs for arg in ("--input", pair)]
    done = subprocess.run(
        [*flowdeck_command(), "run", str(EXAMPLES / name), *args],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == expected


def test_run_exits_1_on_failure_and_on_bad_inputs(tmp_path: Path) -> None:
    failing = tmp_path / "fail.yaml"
    failing.write_text(
        "name: Fails\nsteps:\n  - id: boom\n    type: script\n"
        "    config: {language: bash, code: 'echo nope >&2; exit 3'}\n"
    )
    done = subprocess.run(
        [*flowdeck_command(), "run", str(failing)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 1
    assert "Step 'boom' failed" in done.stderr
    bad = subprocess.run(
        [*flowdeck_command(), "run", str(EXAMPLES / "branching.yaml")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert bad.returncode == 1
    assert "Input 'amount' is required" in bad.stderr


def test_run_refuses_to_wait_forever_for_an_approval(tmp_path: Path) -> None:
    gated = tmp_path / "gated.yaml"
    gated.write_text(
        "name: Gated\nsteps:\n  - id: review\n    type: approval\n"
        "    config: {message: Ship it}\n"
        "  - id: ship\n    type: transform\n    config: {value: 1}\n    depends_on: [review]\n"
    )
    done = subprocess.run(
        [*flowdeck_command(), "run", str(gated)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 1
    assert "Step 'review' waits for an approval" in done.stderr
