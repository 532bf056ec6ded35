"""`kill -9` of `db-migrate all` inside each database's migrations: the next run succeeds.

    uv run python scripts/faults/migrator_killed.py

Starts a PostgreSQL of its own. One clean `db-create all` + `db-migrate all` counts the
migrations. Then, once per database (core's, then each app's, in the order `all` migrates
them), on empty databases: `db-migrate all` runs while an observer polls `pg_stat_activity`,
and the instant it sees a transaction open in that database, the migrator's process group dies
by SIGKILL. After each kill a plain `db-migrate all` must exit 0, and `db-status all` must
then report every migration applied and no drift: no lock row to delete, no half-applied
migration to undo by hand. Exit status 0 when every trial passes, 1 otherwise.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys

import psycopg
from _system import report, scratch_environment

from atriz_database.scratch_cluster import ScratchCluster
from atriz_database.targets import TargetRegistry
from atriz_database.testing import BIN

OPEN_TRANSACTION = """
SELECT count(*) FROM pg_stat_activity
WHERE datname = %s AND backend_type = 'client backend' AND xact_start IS NOT NULL
"""


def command(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - the project's own commands
        [str(BIN / args[0]), *args[1:]],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def empty_databases(cluster: ScratchCluster, env: dict[str, str]) -> None:
    """Every target's database dropped and created again, with nothing migrated."""
    with psycopg.connect(cluster.url(), autocommit=True) as admin:
        for target in TargetRegistry.from_entry_points().select("all"):
            admin.execute(f'DROP DATABASE IF EXISTS "{target.database}" WITH (FORCE)')
    created = command(env, "db-create", "all")
    if created.returncode:
        raise RuntimeError(f"db-create all failed: {created.stdout}{created.stderr}")


def applied_migrations(cluster: ScratchCluster) -> int:
    total = 0
    for target in TargetRegistry.from_entry_points().select("all"):
        with psycopg.connect(cluster.url(target.database)) as connection:
            exists = connection.execute("SELECT to_regclass('_yoyo_migration')").fetchone()
            if exists and exists[0]:
                row = connection.execute("SELECT count(*) FROM _yoyo_migration").fetchone()
                total += row[0] if row else 0
    return total


def kill_migrator_inside(cluster: ScratchCluster, env: dict[str, str], database: str) -> bool:
    """Start `db-migrate all` and SIGKILL it the instant a transaction is open in `database`;
    whether that instant came before the migrator finished."""
    migrator = subprocess.Popen(  # noqa: S603 - the project's own command
        [str(BIN / "db-migrate"), "all"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    caught = False
    with psycopg.connect(cluster.url(), autocommit=True) as observer:
        while migrator.poll() is None:
            row = observer.execute(OPEN_TRANSACTION, (database,)).fetchone()
            if row and row[0]:
                os.killpg(migrator.pid, signal.SIGKILL)
                caught = True
                break
    migrator.wait(10)
    return caught


def exercise() -> int:
    failures: list[str] = []
    with scratch_environment({}) as (cluster, env):
        empty_databases(cluster, env)
        clean = command(env, "db-migrate", "all")
        if clean.returncode:
            return report([f"a clean db-migrate all failed: {clean.stderr.strip()}"], "")
        expected = applied_migrations(cluster)
        print(f"a whole db-migrate all applies {expected} migrations")
        print(f"{'killed inside':<14} {'applied':>8}  next db-migrate, db-status")
        for target in TargetRegistry.from_entry_points().select("all"):
            empty_databases(cluster, env)
            if not kill_migrator_inside(cluster, env, target.database):
                failures.append(f"never saw a transaction open in {target.database}")
                continue
            applied = applied_migrations(cluster)
            rerun = command(env, "db-migrate", "all")
            status = command(env, "db-status", "all")
            print(
                f"{target.database:<14} {applied:>4}/{expected:<3}"
                f"  exit {rerun.returncode}, exit {status.returncode}"
            )
            if rerun.returncode:
                failures.append(
                    f"killed in {target.database}: db-migrate then failed: {rerun.stderr}"
                )
            elif status.returncode or applied_migrations(cluster) != expected:
                failures.append(f"killed in {target.database}: afterwards {status.stdout.strip()}")
    return report(failures, "every db-migrate after a kill -9 succeeded, nothing to repair")


def main() -> None:
    argparse.ArgumentParser(description=__doc__.splitlines()[0]).parse_args()
    sys.exit(exercise())


if __name__ == "__main__":
    main()
