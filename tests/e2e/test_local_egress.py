"""`flowdeck run` is one user on their own machine: the egress guard is off, and it says so."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from flowdeck.cli.local_run import LOCAL_EGRESS_NOTE
from tests.e2e.conftest import Target, flowdeck_command

pytestmark = pytest.mark.e2e

DEFINITION = """
name: Local fetch
steps:
  - id: fetch
    type: http_request
    config: {{url: "{url}/local", expect_status: [200]}}
outputs:
  - {{name: body, value: "{{{{ steps.fetch.output.body }}}}"}}
"""


def run_locally(path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("FLOWDECK_")}
    return subprocess.run(
        [*flowdeck_command(), "run", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        env={**clean, **env},
    )


def test_flowdeck_run_reaches_a_loopback_peer_and_says_the_guard_is_off(
    tmp_path: Path, target: Target
) -> None:
    path = tmp_path / "local.yaml"
    path.write_text(DEFINITION.format(url=target.url))
    done = run_locally(path)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"body": {"ok": True}}
    assert done.stderr.count(LOCAL_EGRESS_NOTE) == 1
    assert sum(target.snapshot().values()) == 1
    # FLOWDECK_HTTP_ALLOW set: that list guards, as on a server.
    guarded = run_locally(path, FLOWDECK_HTTP_ALLOW="10.0.0.0/8")
    assert guarded.returncode == 1
    assert "egress guard" in guarded.stderr and LOCAL_EGRESS_NOTE not in guarded.stderr
    assert sum(target.snapshot().values()) == 1


def test_an_unreadable_allow_list_is_named(tmp_path: Path) -> None:
    path = tmp_path / "local.yaml"
    path.write_text(DEFINITION.format(url="http://127.0.0.1:9"))
    done = run_locally(path, FLOWDECK_HTTP_ALLOW="10.0.0.0/8, not a host")
    assert done.returncode == 1
    assert "http_allow" in done.stderr and "'not a host'" in done.stderr
