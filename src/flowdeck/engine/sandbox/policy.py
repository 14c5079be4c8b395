"""What a script may use: the chosen isolation, its network, and its limits."""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

SandboxMode = Literal["auto", "bwrap", "landlock", "none"]
MODES: tuple[SandboxMode, ...] = ("auto", "bwrap", "landlock", "none")
# Inside a sandbox the script's writable temp dir is always here.
SANDBOX_TMP = "/tmp"
SCRIPT_PATH = "/usr/local/bin:/usr/bin:/bin"
TEMP_PREFIX = "flowdeck-script-"


@dataclass(frozen=True)
class Limits:
    """Caps over a script's whole process tree (values <= 0 switch a cap off)."""

    cpu_seconds: int = 60
    memory_mb: int = 512
    max_processes: int = 64
    file_size_mb: int = 64
    tmp_size_mb: int = 64

    def rlimits(self) -> dict[str, int]:
        """The per-process kernel limits every process of the script runs under."""
        mib = 1024 * 1024
        limits = {"RLIMIT_CORE": 0}
        if self.cpu_seconds > 0:
            limits["RLIMIT_CPU"] = self.cpu_seconds
        if self.memory_mb > 0:
            limits["RLIMIT_AS"] = self.memory_mb * mib
        if self.file_size_mb > 0:
            limits["RLIMIT_FSIZE"] = self.file_size_mb * mib
        return limits


@dataclass(frozen=True)
class SandboxPolicy:
    """Everything that decides how scripts are isolated; one per process, probed once."""

    mode: SandboxMode = "auto"
    network: bool = False
    limits: Limits = field(default_factory=Limits)
    bwrap_path: str | None = None
    # The interpreter python scripts run with; None means this server's own base interpreter.
    python: str | None = None
    # The unprivileged host uid (and gid) scripts run as when the server runs as root.
    uid: int = 65534

    @property
    def as_root(self) -> bool:
        """Whether this process is root (scripts are then moved to `uid`)."""
        return os.geteuid() == 0

    def interpreter(self) -> str:
        """The python executable scripts run with (outside any venv)."""
        if self.python:
            return self.python
        base = getattr(sys, "_base_executable", None) or sys.executable
        return os.path.realpath(base)


@dataclass(frozen=True)
class ScriptJob:
    """One script to run: its language, code, environment and stdin."""

    language: Literal["python", "bash"]
    code: str
    env: Mapping[str, str]
    stdin: bytes
    time_limit: float | None


def script_env(home: str, extra: Mapping[str, str]) -> dict[str, str]:
    """The script's environment, built from scratch: nothing of the server's leaks in."""
    env = {
        "PATH": SCRIPT_PATH,
        "HOME": home,
        "TMPDIR": home,
        "LANG": "C.UTF-8",
        "PYTHONIOENCODING": "utf-8",
    }
    env.update(extra)
    return env


def script_argv(policy: SandboxPolicy, language: str, path: str) -> list[str]:
    """The command line running the script file at `path`."""
    if language == "python":
        return [policy.interpreter(), "-I", path]
    bash = shutil.which("bash", path=SCRIPT_PATH) or "bash"
    return [bash, "--noprofile", "--norc", path]


def temp_parent() -> Path:
    """Where Landlock and unsandboxed scripts get their temp dirs."""
    return Path(tempfile.gettempdir())
