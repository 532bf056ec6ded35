"""Several migrators at once, and a migrator killed mid-run, as real processes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import psycopg
import pytest

from atriz_database import DatabaseTarget
from atriz_database.testing import clean_environment, write_migration

# Runs `db-migrate sample` through the real command code, with the sample target registered.
MIGRATOR = """
import sys
from pathlib import Path
from atriz_database import DatabaseTarget, TargetRegistry
from atriz_database.cli.db import migrate_main

root = Path(sys.argv[1])
target = DatabaseTarget(
    "sample", "sample_db", "SAMPLE_DATABASE_URL", root / "migrations", root / "seeds"
)
migrate_main(["sample"], registry=TargetRegistry([target]))
"""


def start_migrator(sample: DatabaseTarget, url: str) -> subprocess.Popen[str]:
    env = clean_environment(sample.migrations.parent, SAMPLE_DATABASE_URL=url)
    return subprocess.Popen(
        [sys.executable, "-c", MIGRATOR, str(sample.migrations.parent)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.slow
def test_three_migrators_at_once_apply_each_migration_once(
    sample: DatabaseTarget, empty_database_url: str
) -> None:
    write_migration(sample, "0001_create_runs", "CREATE TABLE runs (step int);")
    # Longer than yoyo's own 10 s lock wait, which the advisory lock replaces.
    write_migration(sample, "0002_slow", "INSERT INTO runs VALUES (2);\nSELECT pg_sleep(11);")
    write_migration(sample, "0003_after", "INSERT INTO runs VALUES (3);")

    migrators = [start_migrator(sample, empty_database_url) for _ in range(3)]
    results = [m.communicate(timeout=120) for m in migrators]

    assert [m.returncode for m in migrators] == [0, 0, 0], results
    with psycopg.connect(empty_database_url) as connection:
        steps = connection.execute("SELECT step FROM runs ORDER BY step").fetchall()
        applies = connection.execute(
            "SELECT migration_id, count(*) FROM _yoyo_log WHERE operation = 'apply'"
            " GROUP BY migration_id ORDER BY migration_id"
        ).fetchall()
    assert steps == [(2,), (3,)]
    assert applies == [("0001_create_runs", 1), ("0002_slow", 1), ("0003_after", 1)]
    outputs = "".join(out for out, _ in results)
    assert outputs.count("applied 0002_slow") == 1
    assert outputs.count("up to date") == 2


def wait_for_query(url: str, fragment: str) -> int:
    """The backend pid of the session running a query that contains `fragment`."""
    with psycopg.connect(url, autocommit=True) as connection:
        for _ in range(200):
            row = connection.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
                " AND query LIKE %s AND pid <> pg_backend_pid()",
                (f"%{fragment}%",),
            ).fetchone()
            if row:
                return int(row[0])
            time.sleep(0.05)
    raise AssertionError(f"no session ran {fragment!r}")


@pytest.mark.slow
def test_a_killed_migrator_leaves_nothing_that_blocks_the_next_run(
    sample: DatabaseTarget, empty_database_url: str
) -> None:
    write_migration(sample, "0001_create_t", "CREATE TABLE t (id int);\nSELECT pg_sleep(600);")
    victim = start_migrator(sample, empty_database_url)
    backend_pid = wait_for_query(empty_database_url, "pg_sleep(600)")

    os.kill(victim.pid, signal.SIGKILL)
    victim.communicate(timeout=10)
    # The file was never applied, so it may change; the next run must not sleep again.
    write_migration(sample, "0001_create_t", "CREATE TABLE t (id int);")
    successor = start_migrator(sample, empty_database_url)
    out, err = successor.communicate(timeout=60)

    assert successor.returncode == 0, err
    assert "applied 0001_create_t" in out
    with psycopg.connect(empty_database_url) as connection:
        orphan = connection.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE pid = %s", (backend_pid,)
        ).fetchone()
        assert orphan == (0,), "the killed migrator's session ended with it"
        assert connection.execute("SELECT count(*) FROM yoyo_lock").fetchone() == (0,)
