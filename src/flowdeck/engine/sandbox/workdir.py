"""Host temp dirs for scripts that run without a private tmpfs (Landlock, or no sandbox)."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path

from flowdeck.engine.sandbox.policy import TEMP_PREFIX, ScriptJob, temp_parent


def make_workdir(job: ScriptJob, owner: int | None) -> tuple[str, str]:
    """A fresh private temp dir holding the script's code; (dir, code path).

    The server's pid is in the name, so a later start can tell a dead server's leftovers.
    `owner` (root only) is the uid the script runs as, which must be able to write there.
    """
    workdir = tempfile.mkdtemp(prefix=f"{TEMP_PREFIX}{os.getpid()}-", dir=temp_parent())
    try:
        path = Path(workdir) / ("main.py" if job.language == "python" else "main.sh")
        path.write_text(job.code, encoding="utf-8")
        if owner is not None:
            os.chown(path, owner, owner)
            os.chown(workdir, owner, owner)
    except OSError:
        shutil.rmtree(workdir, ignore_errors=True)
        raise
    return workdir, str(path)


def _owner_pid(name: str) -> int | None:
    pid, _, rest = name.removeprefix(TEMP_PREFIX).partition("-")
    return int(pid) if pid.isdigit() and rest else None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def sweep_stale_workdirs() -> int:
    """Remove temp dirs whose server process is gone (killed mid-script); how many."""
    removed = 0
    with contextlib.suppress(OSError), os.scandir(temp_parent()) as entries:
        for entry in entries:
            if not entry.name.startswith(TEMP_PREFIX) or not entry.is_dir(follow_symlinks=False):
                continue
            pid = _owner_pid(entry.name)
            if pid is not None and pid != os.getpid() and not _alive(pid):
                shutil.rmtree(entry.path, ignore_errors=True)
                removed += 1
    return removed
