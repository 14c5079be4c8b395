"""The CLI's help and server verbs start without the server's heavy modules."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.support.peer import free_port

HEAVY = ("fastapi", "starlette", "sqlalchemy", "alembic", "mcp", "uvicorn", "jinja2")

PROBE = """
import json, sys
from flowdeck.cli.main import app
try:
    app(sys.argv[1:])
except SystemExit as exc:
    code = exc.code
print(json.dumps({"code": code, "loaded": sorted({m.split(".")[0] for m in sys.modules})}))
"""


def _loaded(*args: str) -> tuple[int, set[str]]:
    done = subprocess.run(
        [sys.executable, "-c", PROBE, *args], capture_output=True, text=True, timeout=60
    )
    result = json.loads(done.stdout.strip().splitlines()[-1])
    return result["code"], set(result["loaded"])


def test_help_loads_no_server_module() -> None:
    code, loaded = _loaded("--help")
    assert code == 0 and not loaded & set(HEAVY)


def test_a_server_verb_loads_no_server_module() -> None:
    nobody = f"http://127.0.0.1:{free_port()}"
    code, loaded = _loaded("runs", "get", "run_x", "--server", nobody, "--api-key", "k")
    assert code == 3  # nobody listens there
    assert "httpx" in loaded and not loaded & set(HEAVY)
