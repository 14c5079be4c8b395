"""Private files (SPEC §9): the data dir is 0700, the database and key files in it 0600.

Files are created with their final mode (no window in which another user may open them), and
`secure_data_dir` tightens what an older instance left looser, logging each change.
"""

from __future__ import annotations

import contextlib
import logging
import os
import stat
from pathlib import Path

log = logging.getLogger("flowdeck.files")

DIR_MODE = 0o700
FILE_MODE = 0o600
# The data dir's files: the key files, and the default SQLite database with its WAL and SHM.
DATA_FILES = (
    "admin.key",
    "secret.key",
    "flowdeck.db",
    "flowdeck.db-wal",
    "flowdeck.db-shm",
)


def tighten(path: Path, mode: int) -> bool:
    """Drop the permission bits of `path` beyond `mode`; True when it changed something.

    A missing file is fine; a symlink is left alone (chmod would follow it out of the data dir).
    """
    try:
        st = path.lstat()
    except FileNotFoundError:
        return False
    if stat.S_ISLNK(st.st_mode):
        log.warning("%s is a symlink; its permissions are left as they are", path)
        return False
    current = stat.S_IMODE(st.st_mode)
    wanted = current & mode
    if wanted == current:
        return False
    try:
        os.chmod(path, wanted)
    except PermissionError:  # not ours to change: say so rather than refuse to start
        log.warning("%s is mode %04o and cannot be tightened to %04o", path, current, wanted)
        return False
    log.warning("Tightened the permissions of %s from %04o to %04o", path, current, wanted)
    return True


def ensure_private_dir(path: Path) -> Path:
    """Create `path` (and missing parents) with the directory itself 0700."""
    if not path.is_dir():
        path.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
        os.chmod(path, DIR_MODE)  # mkdir's mode passes through the umask
    return path


def create_private_file(path: Path, data: bytes, *, replace: bool = False) -> None:
    """Write `data` to a new file that is 0600 from its first byte (or replace it when told)."""
    flags = os.O_WRONLY | os.O_CREAT | (os.O_TRUNC if replace else os.O_EXCL)
    fd = os.open(path, flags, FILE_MODE)
    with os.fdopen(fd, "wb") as fh:
        os.fchmod(fh.fileno(), FILE_MODE)  # an existing file keeps its mode through O_TRUNC
        fh.write(data)


def create_private_database(path: Path) -> None:
    """Create an empty SQLite file 0600 (its WAL and SHM inherit that mode) unless it exists;
    tighten the three when they do. A parent directory it creates is 0700."""
    if not path.parent.exists():
        ensure_private_dir(path.parent)
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE))
    for name in (path.name, f"{path.name}-wal", f"{path.name}-shm"):
        tighten(path.with_name(name), FILE_MODE)


def secure_data_dir(data_dir: Path) -> None:
    """Create the data dir 0700, or tighten it and its known files to 0700/0600."""
    if data_dir.is_dir():
        tighten(data_dir.resolve(), DIR_MODE)  # a data dir may be a symlink the owner made
    ensure_private_dir(data_dir)
    for name in DATA_FILES:
        tighten(data_dir / name, FILE_MODE)
