"""`FLOWDECK_SCRIPT_SANDBOX=none`: scripts run as the server's own user, with only rlimits.

For single-user installs that trust every script author: the script can read and write
whatever the server can, reach its processes and the network. A process group and the
per-process limits (CPU, memory, file size) are all that bound it; no process cap, since
RLIMIT_NPROC would count every process of the server's user.
"""

from __future__ import annotations

from collections.abc import Callable

from flowdeck.engine.sandbox import launch as launch_module
from flowdeck.engine.sandbox.launcher import Launch
from flowdeck.engine.sandbox.policy import SandboxPolicy, ScriptJob, script_argv, script_env
from flowdeck.engine.sandbox.workdir import make_workdir


class Unsandboxed:
    """Runs scripts directly, in a temp dir of their own."""

    name = "none"

    def __init__(self, policy: SandboxPolicy) -> None:
        self.policy = policy

    def describe(self) -> str:
        """One line for the start-up log."""
        return "none: scripts run unsandboxed as this user (FLOWDECK_SCRIPT_SANDBOX=none)"

    def prepare(self, job: ScriptJob) -> Launch:
        """The script's own command line, with the per-process limits applied before exec."""
        workdir, script = make_workdir(job, None)
        return Launch(
            argv=script_argv(self.policy, job.language, script),
            env=script_env(workdir, job.env),
            cwd=workdir,
            workdir=workdir,
            preexec=_limiter(self.policy.limits.rlimits()),
        )


def _limiter(limits: dict[str, int]) -> Callable[[], None]:
    def apply() -> None:
        launch_module.apply_limits(limits)

    return apply
