"""Backups an instance can be brought back from: the database and the key that reads its secrets.

A bundle is a gzipped tar (mode 0600: it holds the key) of `manifest.json`, `secret.key` (the key
in use, whether from `<data_dir>/secret.key` or FLOWDECK_SECRET_KEY), `admin.key` when the data
dir has one, and the database: on SQLite `flowdeck.db`, a consistent copy taken with SQLite's
online backup API while the server keeps running (WAL readers never block its writers); on
PostgreSQL `flowdeck.pgdump` from `pg_dump --format=custom` when pg_dump is installed, else
nothing but guidance (a PostgreSQL backup is the operator's pg_dump or base backup, the key is
what only Flowdeck has).
"""

from __future__ import annotations

import io
import json
import shutil
import sqlite3
import subprocess
import tarfile
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url

from flowdeck import __version__
from flowdeck.filemodes import create_private_file, ensure_private_dir

FORMAT = 1
MANIFEST, DATABASE, PG_DUMP, SECRET_KEY, ADMIN_KEY = (
    "manifest.json",
    "flowdeck.db",
    "flowdeck.pgdump",
    "secret.key",
    "admin.key",
)
_MEMBERS = {MANIFEST, DATABASE, PG_DUMP, SECRET_KEY, ADMIN_KEY}


class BackupError(Exception):
    """A backup or restore that cannot be done; the message says why, in one line."""


@dataclass
class BackupReport:
    """What a bundle holds, and what the operator must still do."""

    path: Path
    database: str
    members: list[str] = field(default_factory=list)
    schema: str | None = None
    guidance: list[str] = field(default_factory=list)


def sqlite_file(url: str) -> Path | None:
    """The database file of a SQLite URL; None for any other database."""
    parsed = make_url(url)
    if not parsed.drivername.startswith("sqlite"):
        return None
    if not parsed.database or parsed.database == ":memory:":
        raise BackupError(f"{url} is not a database file")
    return Path(parsed.database)


def libpq_url(url: str) -> str:
    """The URL as pg_dump and psql read it (no SQLAlchemy driver suffix)."""
    parsed = make_url(url)
    return parsed.set(drivername="postgresql").render_as_string(hide_password=False)


def copy_sqlite(source: Path, target: Path) -> str | None:
    """A consistent copy of a live SQLite database (online backup API); its schema revision."""
    if not source.is_file():
        raise BackupError(f"There is no database at {source}")
    src = sqlite3.connect(source, timeout=30)
    dst = sqlite3.connect(target)
    try:
        src.backup(dst)  # every page in one step: one read transaction, one snapshot
        row = dst.execute("SELECT version_num FROM alembic_version").fetchone()
    except sqlite3.Error as exc:
        raise BackupError(f"Cannot back up {source}: {exc}") from exc
    finally:
        dst.close()
        src.close()
    return str(row[0]) if row else None


def _pg_dump(url: str, target: Path) -> list[str]:
    """Dump with pg_dump into `target`; guidance instead when pg_dump is not installed."""
    pg_dump = shutil.which("pg_dump")
    if pg_dump is None:
        return [
            "pg_dump is not installed here: the bundle holds the key only. Back the database "
            "up with: pg_dump --format=custom --file=flowdeck.pgdump '<FLOWDECK_DATABASE_URL>'",
        ]
    cmd = [pg_dump, "--format=custom", "--no-owner", f"--file={target}", libpq_url(url)]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise BackupError(f"pg_dump failed: {done.stderr.strip().splitlines()[-1:]}")
    return []


def _add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = len(data), 0o600, int(datetime.now(UTC).timestamp())
    tar.addfile(info, io.BytesIO(data))


def create_backup(url: str, key: bytes, data_dir: Path, dest: Path) -> BackupReport:
    """Write a bundle of the database at `url` and `key` to `dest` (replaced atomically)."""
    db_file = sqlite_file(url)
    report = BackupReport(dest, "sqlite" if db_file else "postgresql")
    if not dest.parent.exists():
        dest.parent.mkdir(parents=True)
    with tempfile.TemporaryDirectory(dir=dest.parent, prefix=".flowdeck-backup-") as tmp:
        work = Path(tmp)
        files: dict[str, Path] = {}
        if db_file is not None:
            report.schema = copy_sqlite(db_file, work / DATABASE)
            files[DATABASE] = work / DATABASE
        else:
            report.guidance = _pg_dump(url, work / PG_DUMP)
            if (work / PG_DUMP).exists():
                files[PG_DUMP] = work / PG_DUMP
        manifest = {
            "format": FORMAT,
            "flowdeck_version": __version__,
            "created_at": datetime.now(UTC).isoformat(),
            "database": report.database,
            "schema_revision": report.schema,
        }
        partial = work / "bundle.tar.gz"
        create_private_file(partial, b"")
        with tarfile.open(partial, "w:gz") as tar:
            _add(tar, MANIFEST, json.dumps(manifest, indent=2).encode())
            _add(tar, SECRET_KEY, key.strip() + b"\n")
            admin = data_dir / ADMIN_KEY
            if admin.is_file():
                _add(tar, ADMIN_KEY, admin.read_bytes())
            for name, path in files.items():
                tar.add(path, arcname=name, filter=_private)
            report.members = sorted(tar.getnames())
        partial.replace(dest)
    return report


def _private(info: tarfile.TarInfo) -> tarfile.TarInfo:
    info.mode, info.uid, info.gid, info.uname, info.gname = 0o600, 0, 0, "", ""
    return info


def read_manifest(tar: tarfile.TarFile) -> dict[str, Any]:
    """The bundle's manifest; BackupError when the file is not a Flowdeck backup."""
    names = set(tar.getnames())
    if MANIFEST not in names or SECRET_KEY not in names or not names <= _MEMBERS:
        raise BackupError("Not a Flowdeck backup (manifest.json and secret.key expected)")
    extracted = tar.extractfile(MANIFEST)
    assert extracted is not None
    manifest: dict[str, Any] = json.loads(extracted.read())
    if manifest.get("format") != FORMAT:
        raise BackupError(f"Unknown backup format {manifest.get('format')!r}")
    return manifest


def _unpack(tar: tarfile.TarFile, data_dir: Path) -> BackupReport:
    manifest = read_manifest(tar)
    taken = [n for n in (DATABASE, SECRET_KEY) if (data_dir / n).exists()]
    if taken:
        raise BackupError(
            f"{data_dir} already holds {' and '.join(taken)}: restore into an empty data dir"
        )
    ensure_private_dir(data_dir)
    report = BackupReport(data_dir, str(manifest["database"]))
    report.schema = manifest.get("schema_revision")
    for member in tar.getmembers():
        if member.name == MANIFEST or not member.isfile():
            continue
        extracted = tar.extractfile(member)
        assert extracted is not None
        create_private_file(data_dir / member.name, b"")  # 0600 before any byte is in it
        with (data_dir / member.name).open("wb") as fh:
            shutil.copyfileobj(extracted, fh, 1024 * 1024)  # a database may be large
        report.members.append(member.name)
    return report


def restore_backup(bundle: Path, data_dir: Path) -> BackupReport:
    """Unpack a bundle into a data dir that holds no instance yet (files 0600, dir 0700)."""
    try:
        with tarfile.open(bundle, "r:gz") as tar:
            report = _unpack(tar, data_dir)
    except (OSError, tarfile.TarError) as exc:
        raise BackupError(f"Cannot read {bundle}: {exc}") from exc
    if PG_DUMP in report.members:
        report.guidance.append(
            "Load the database into an empty PostgreSQL database, then start Flowdeck on it: "
            f"pg_restore --no-owner --dbname='<FLOWDECK_DATABASE_URL>' {data_dir / PG_DUMP}"
        )
    elif report.database == "postgresql":
        report.guidance.append(
            "The bundle has no database: restore your PostgreSQL backup, then start Flowdeck "
            "with FLOWDECK_DATABASE_URL pointing at it and this data dir (for secret.key)"
        )
    return report
