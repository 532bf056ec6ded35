"""Backups: one `pg_dump` archive per database, with a SHA-256 file beside it.

The archive is `pg_dump`'s custom format (`-Fc`): compressed, consistent (pg_dump reads the whole
database in one repeatable-read snapshot), and restorable table by table with `pg_restore`. It is
written under a `.partial` name and renamed when complete, so a file with the final name is always
a whole dump; its checksum file is in `sha256sum`'s format (`sha256sum -c` checks it).
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from psycopg.conninfo import conninfo_to_dict

from atriz_database.errors import BackupError
from atriz_database.pgtools import find_program, last_error_line, program_env, server_version
from atriz_database.settings import project_root
from atriz_database.targets import DatabaseTarget

__all__ = [
    "Backup",
    "checksum_path",
    "default_backup_folder",
    "dump_database",
    "file_sha256",
    "human_size",
    "read_checksum",
    "terminal_progress",
]

Progress = Callable[[int, float], None]
"""Called about twice a second while a dump runs, with the bytes written and seconds taken."""
# The umask pg_dump writes under: its files are readable by their owner only.
_OWNER_ONLY = 0o077


@dataclass(frozen=True)
class Backup:
    """One finished dump."""

    target: str
    path: Path
    checksum_file: Path
    size: int
    seconds: float
    pg_dump: Path


def default_backup_folder() -> Path:
    """`<project root>/.atriz/backups` (git-ignored)."""
    return project_root() / ".atriz" / "backups"


def checksum_path(dump: Path) -> Path:
    """The checksum file that belongs to a dump: `<dump>.sha256`."""
    return dump.with_name(dump.name + ".sha256")


def file_sha256(path: Path) -> str:
    """The SHA-256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while block := stream.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def read_checksum(dump: Path) -> str:
    """The hex digest recorded in the dump's checksum file; `BackupError` if it is missing."""
    path = checksum_path(dump)
    try:
        text = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        raise BackupError(
            f"{dump}: no checksum file {path.name} beside it; refusing an unverified dump"
        ) from None
    digest = text.split()[0].lower() if text else ""
    if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
        raise BackupError(f"{path}: not a SHA-256 checksum file")
    return digest


def human_size(size: float) -> str:
    """`12.3 MB`: bytes in powers of 1024, one decimal."""
    for unit in ("B", "kB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")


def _stamp(now: datetime | None = None) -> str:
    return (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")


def _free_name(folder: Path, stem: str) -> Path:
    path = folder / f"{stem}.dump"
    number = 2
    while path.exists() or checksum_path(path).exists():
        path = folder / f"{stem}-{number}.dump"
        number += 1
    return path


def dump_database(
    target: DatabaseTarget,
    url: str,
    folder: Path,
    *,
    progress: Progress | None = None,
) -> Backup:
    """Dump the target's database at `url` into `folder`; return what was written."""
    server = server_version(url)  # also a clear one-line error when the database is unreachable
    pg_dump = find_program("pg_dump", server)
    # A dump holds password hashes, e-mail addresses and token hashes: for its owner's eyes only,
    # like the signing keys (each folder made here is 0700, every file 0600, whatever the umask).
    # `mkdir(parents=True)` would make the folders above it by the umask.
    for missing in reversed([f for f in (folder, *folder.parents) if not f.exists()]):
        missing.mkdir(mode=0o700, exist_ok=True)
    database = conninfo_to_dict(url).get("dbname") or target.database
    path = _free_name(folder, f"{database}-{_stamp()}")
    partial = path.with_name(path.name + ".partial")
    dbname, env = program_env(url)
    started = time.monotonic()
    command = [str(pg_dump.path), "--format=custom", f"--file={partial}", f"--dbname={dbname}"]
    try:
        process = subprocess.Popen(  # noqa: S603 - pg_dump, arguments built here
            command,
            stdin=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            umask=_OWNER_ONLY,
        )
        while True:
            try:
                _, stderr = process.communicate(timeout=0.5)
                break
            except subprocess.TimeoutExpired:
                if progress is not None and partial.exists():
                    progress(partial.stat().st_size, time.monotonic() - started)
        if process.returncode != 0:
            raise BackupError(
                f"{target.name}: pg_dump failed: {last_error_line(stderr, 'pg_dump')}"
            )
        digest = file_sha256(partial)
        partial.rename(path)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    checksum_file = checksum_path(path)
    with os.fdopen(os.open(checksum_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as out:
        out.write(f"{digest}  {path.name}\n")
    return Backup(
        target=target.name,
        path=path,
        checksum_file=checksum_file,
        size=path.stat().st_size,
        seconds=time.monotonic() - started,
        pg_dump=pg_dump.path,
    )


def terminal_progress(name: str) -> Progress | None:
    """A progress line rewritten in place on a terminal (stderr); None when not a terminal."""
    if not sys.stderr.isatty():
        return None

    def show(size: int, seconds: float) -> None:
        print(f"\r{name}: {human_size(size)} written, {seconds:.0f} s", end="", file=sys.stderr)

    return show
