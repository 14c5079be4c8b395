"""Choose the sandbox once per policy: probe each backend for real and say why one fails."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from dataclasses import dataclass

from flowdeck.engine.sandbox.bwrap import BwrapBackend, BwrapUnavailable, find_bwrap
from flowdeck.engine.sandbox.landlock import (
    LandlockBackend,
    LandlockUnavailable,
    check_abi,
    landlock_abi,
)
from flowdeck.engine.sandbox.launcher import Backend
from flowdeck.engine.sandbox.policy import SandboxPolicy, ScriptJob
from flowdeck.engine.sandbox.runner import TimedOut, run_script
from flowdeck.engine.sandbox.unsandboxed import Unsandboxed
from flowdeck.engine.sandbox.workdir import sweep_stale_workdirs

logger = logging.getLogger("flowdeck.sandbox")
_PROBE = ScriptJob("python", "import sys\nprint('ok')", {}, b"", 30.0)


@dataclass(frozen=True)
class Selection:
    """The backend scripts run under, or why none can be used."""

    backend: Backend | None
    reasons: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        """`bwrap`, `landlock`, `none`, or `unavailable`."""
        return self.backend.name if self.backend else "unavailable"

    def unavailable_message(self) -> str:
        """The one sentence a script step fails with when no sandbox can be set up."""
        why = "; ".join(self.reasons)
        return (
            f"Script steps cannot run: no script sandbox can be set up on this server ({why}); "
            "an instance owner can set FLOWDECK_SCRIPT_SANDBOX=none to run scripts "
            "unsandboxed, for single-user installs only"
        )


_selected: dict[SandboxPolicy, Selection] = {}


async def select_sandbox(policy: SandboxPolicy) -> Selection:
    """The sandbox for `policy`, probed the first time and remembered for this process."""
    found = _selected.get(policy)
    if found is None:
        found = await _probe_all(policy)
        _selected[policy] = found
    return found


async def _probe_all(policy: SandboxPolicy) -> Selection:
    sweep_stale_workdirs()
    if policy.mode == "none":
        return Selection(Unsandboxed(policy))
    reasons: list[str] = []
    candidates = ("bwrap", "landlock") if policy.mode == "auto" else (policy.mode,)
    for name in candidates:
        try:
            backend = _build(name, policy)
            await _trial(backend, policy)
        except (BwrapUnavailable, LandlockUnavailable, OSError) as exc:
            reasons.append(f"{name}: {exc}")
            continue
        return Selection(backend, tuple(reasons))
    return Selection(None, tuple(reasons))


def _build(name: str, policy: SandboxPolicy) -> Backend:
    dirs = runtime_dirs(policy)
    if name == "bwrap":
        return BwrapBackend(policy, find_bwrap(policy.bwrap_path), dirs)
    abi = landlock_abi()
    check_abi(abi, policy)
    return LandlockBackend(policy, abi, dirs)


async def _trial(backend: Backend, policy: SandboxPolicy) -> None:
    """Run a trial script: a backend is only as available as a script that actually runs."""
    try:
        finished = await run_script(backend, _PROBE, policy.limits)
    except TimedOut:
        raise OSError("a trial script timed out") from None
    if finished.exit_code != 0 or finished.stdout.strip() != "ok":
        lines = [line for line in finished.stderr.splitlines() if line.strip()]
        detail = lines[-1].strip() if lines else f"exit code {finished.exit_code}"
        raise OSError(f"a trial script failed: {detail}")


def runtime_dirs(policy: SandboxPolicy) -> list[str]:
    """The interpreter's own prefixes (outside /usr), which scripts must be able to read."""
    if policy.python is None:
        prefixes = [sys.base_prefix, sys.base_exec_prefix]
    else:
        code = "import sys; print(sys.base_prefix); print(sys.base_exec_prefix)"
        try:
            out = subprocess.run(
                [policy.python, "-I", "-S", "-c", code],
                capture_output=True,
                text=True,
                timeout=30,
                check=True,
            ).stdout
        except (OSError, subprocess.SubprocessError) as exc:
            raise OSError(f"cannot run the script interpreter {policy.python}: {exc}") from None
        prefixes = out.split()
    found: list[str] = []
    for prefix in map(os.path.realpath, filter(None, prefixes)):
        if not _under(prefix, "/usr") and prefix not in found:
            found.append(prefix)
    return found


def _under(path: str, top: str) -> bool:
    return path == top or path.startswith(top.rstrip("/") + "/")


def log_selection(selection: Selection | None, *, allow_scripts: bool) -> None:
    """Tell the operator at start which sandbox scripts run in (or why none)."""
    if not allow_scripts or selection is None:
        logger.info("Script steps are disabled (FLOWDECK_ALLOW_SCRIPTS=false)")
    elif selection.backend is None:
        logger.warning(selection.unavailable_message())
    else:
        logger.info("Script sandbox: %s", selection.backend.describe())
        for reason in selection.reasons:
            logger.info("Script sandbox skipped %s", reason)
