"""The migration runner against real databases: atomicity, drift, rollback, requirements, locks."""

from __future__ import annotations

import threading
from pathlib import Path

import psycopg
import pytest

from atriz_database import DatabaseSettings, DatabaseTarget, MigrationError, TargetRegistry
from atriz_database.cli.db import new_main, requirement_checker, rollback_main, status_main
from atriz_database.migrations import MIGRATION_LOCK_KEY, Requirement, migrate, rollback, status
from atriz_database.testing import MakeDatabase, run_script, sample_target, write_migration


def never_required(requirement: Requirement) -> bool:
    raise AssertionError(f"no migration here requires anything, asked for {requirement}")


def count_rows(url: str, table: str) -> None:
    with psycopg.connect(url) as connection:
        connection.execute(f"SELECT count(*) FROM {table}")


def tables(url: str) -> set[str]:
    with psycopg.connect(url) as connection:
        rows = connection.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
        ).fetchall()
    return {str(row[0]) for row in rows}


def test_applies_pending_migrations_in_order(
    sample: DatabaseTarget, empty_database_url: str
) -> None:
    write_migration(sample, "0001_create_a", "CREATE TABLE a (id int);", "DROP TABLE a;")
    write_migration(sample, "0002_create_b", "CREATE TABLE b (a_id int);", "DROP TABLE b;")

    applied = migrate(sample, empty_database_url, requirement_met=never_required, out=print)

    assert applied == ["0001_create_a", "0002_create_b"]
    assert {"a", "b"} <= tables(empty_database_url)
    assert status(sample, empty_database_url).applied == applied
    assert migrate(sample, empty_database_url, requirement_met=never_required) == []


def test_dry_run_lists_without_applying(sample: DatabaseTarget, empty_database_url: str) -> None:
    write_migration(sample, "0001_create_a", "CREATE TABLE a (id int);")

    listed = migrate(sample, empty_database_url, requirement_met=never_required, dry_run=True)

    assert listed == ["0001_create_a"]
    assert "a" not in tables(empty_database_url)
    assert status(sample, empty_database_url).pending == ["0001_create_a"]


def test_failing_migration_leaves_no_trace(sample: DatabaseTarget, empty_database_url: str) -> None:
    write_migration(sample, "0001_create_a", "CREATE TABLE a (id int);")
    write_migration(
        sample,
        "0002_broken",
        "CREATE TABLE b (id int);\nINSERT INTO b VALUES (1);\nINSERT INTO missing VALUES (1);",
    )

    with pytest.raises(MigrationError) as failure:
        migrate(sample, empty_database_url, requirement_met=never_required)

    message = str(failure.value)
    assert "0002_broken.sql: statement 3" in message
    assert "INSERT INTO missing" in message
    assert 'relation "missing" does not exist' in message
    assert "nothing of it was applied" in message
    assert "b" not in tables(empty_database_url)
    report = status(sample, empty_database_url)
    assert report.applied == ["0001_create_a"]
    assert report.pending == ["0002_broken"]
    with psycopg.connect(empty_database_url) as connection:
        logged = connection.execute("SELECT migration_id FROM _yoyo_log ORDER BY created_at_utc")
        assert [row[0] for row in logged] == ["0001_create_a"]


def test_the_deployment_gate_lets_an_older_release_start_on_a_newer_schema(
    sample: DatabaseTarget,
    empty_database_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A rollback's pods, or an old pod restarted mid-rollout, find the newer release's
    migrations applied: `--fail-on-pending` waits only for what their own code ships."""
    write_migration(sample, "0001_create_a", "CREATE TABLE a (id int);", "DROP TABLE a;")
    write_migration(sample, "0002_create_b", "CREATE TABLE b (id int);", "DROP TABLE b;")
    migrate(sample, empty_database_url, requirement_met=never_required)
    for path in sample.migrations.glob("0002_create_b*"):  # the older release's code
        path.unlink()
    monkeypatch.setenv(sample.url_env, empty_database_url)

    with pytest.raises(SystemExit) as gate:
        status_main(["sample", "--fail-on-pending"], registry=TargetRegistry([sample]))
    gate_output = capsys.readouterr().out
    with pytest.raises(SystemExit) as plain:
        status_main(["sample"], registry=TargetRegistry([sample]))

    assert gate.value.code == 0, gate_output
    assert "MISSING  0002_create_b" in gate_output
    assert plain.value.code == 1, "a file gone is still a problem outside the gate"
    # A later release: it ships 0002 again and a new 0003, not applied yet.
    write_migration(sample, "0002_create_b", "CREATE TABLE b (id int);", "DROP TABLE b;")
    write_migration(sample, "0003_create_c", "CREATE TABLE c (id int);", "DROP TABLE c;")
    gate_exits = []
    for step in ("pending", "migrated", "lost"):
        if step == "migrated":
            migrate(sample, empty_database_url, requirement_met=never_required)
        if step == "lost":  # a file older than this code's newest migration is gone: no release
            for path in sample.migrations.glob("0001_create_a*"):
                path.unlink()
        with pytest.raises(SystemExit) as gate_exit:
            status_main(["sample", "--fail-on-pending"], registry=TargetRegistry([sample]))
        gate_exits.append(gate_exit.value.code)
    assert gate_exits == [1, 0, 1]


def test_a_session_holding_the_migration_lock_stops_a_migrator_by_name_not_for_ever(
    sample: DatabaseTarget, empty_database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Any login may take an advisory lock: one that holds the migrators' key must not hold
    back every release for good. After ATRIZ_MIGRATION_WAIT the migrator fails, naming it."""
    write_migration(sample, "0001_create_a", "CREATE TABLE a (id int);")
    monkeypatch.setenv("ATRIZ_MIGRATION_WAIT", "0.5")
    with psycopg.connect(empty_database_url, autocommit=True) as squatter:
        squatter.execute("SET application_name = 'squatter'")
        squatter.execute("SELECT pg_advisory_lock(%s)", (MIGRATION_LOCK_KEY,))
        pid = squatter.info.backend_pid
        with pytest.raises(MigrationError) as stopped:
            migrate(sample, empty_database_url, requirement_met=never_required, out=lambda _: None)

    message = str(stopped.value)
    assert "the migration lock is still held after 0.5 s" in message
    assert f"server process {pid} (login " in message
    assert "application 'squatter'" in message
    assert "a" not in tables(empty_database_url)


def test_drift_is_reported_for_a_changed_applied_file(
    sample: DatabaseTarget,
    empty_database_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    write_migration(sample, "0001_create_a", "CREATE TABLE a (id int);")
    write_migration(sample, "0002_create_b", "CREATE TABLE b (id int);")
    migrate(sample, empty_database_url, requirement_met=never_required)
    assert status(sample, empty_database_url).drifted == []

    write_migration(sample, "0001_create_a", "CREATE TABLE a (id bigint);")

    assert status(sample, empty_database_url).drifted == ["0001_create_a"]
    monkeypatch.setenv(sample.url_env, empty_database_url)
    with pytest.raises(SystemExit) as exit_code:
        status_main(["sample"], registry=TargetRegistry([sample]))
    assert exit_code.value.code == 1
    assert "DRIFT    0001_create_a: file changed after it was applied" in capsys.readouterr().out


def test_migrate_warns_about_drift_and_goes_on(
    sample: DatabaseTarget, empty_database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    write_migration(sample, "0001_create_a", "CREATE TABLE a (id int);")
    migrate(sample, empty_database_url, requirement_met=never_required)
    write_migration(sample, "0001_create_a", "CREATE TABLE a (id bigint);")
    write_migration(sample, "0002_create_b", "CREATE TABLE b (id int);")

    applied = migrate(sample, empty_database_url, requirement_met=never_required)

    assert applied == ["0002_create_b"]
    assert "0001_create_a changed after it was applied" in capsys.readouterr().err


def test_missing_file_of_an_applied_migration_is_reported(
    sample: DatabaseTarget, empty_database_url: str
) -> None:
    write_migration(sample, "0001_create_a", "CREATE TABLE a (id int);")
    migrate(sample, empty_database_url, requirement_met=never_required)
    (sample.migrations / "0001_create_a.sql").unlink()

    assert status(sample, empty_database_url).missing == ["0001_create_a"]


def test_rollback_undoes_the_newest_migrations(
    sample: DatabaseTarget, empty_database_url: str
) -> None:
    for n, name in enumerate("abc", start=1):
        write_migration(
            sample, f"000{n}_create_{name}", f"CREATE TABLE {name} (id int);", f"DROP TABLE {name};"
        )
    migrate(sample, empty_database_url, requirement_met=never_required)

    undone = rollback(sample, empty_database_url, count=2)

    assert undone == ["0003_create_c", "0002_create_b"]
    assert {"b", "c"}.isdisjoint(tables(empty_database_url))
    assert status(sample, empty_database_url).applied == ["0001_create_a"]
    assert migrate(sample, empty_database_url, requirement_met=never_required) == [
        "0002_create_b",
        "0003_create_c",
    ]


def test_rollback_all_undoes_dependents_before_what_they_depend_on(
    tmp_path: Path,
    make_database: MakeDatabase,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    base = sample_target(tmp_path / "base", name="base")
    app = sample_target(tmp_path / "app", name="app", depends_on=("base",))
    for target in (base, app):
        write_migration(target, "0001_create_t", "CREATE TABLE t (id int);", "DROP TABLE t;")
        url = make_database(target.name)
        monkeypatch.setenv(target.url_env, url)
        migrate(target, url, requirement_met=never_required)

    with pytest.raises(SystemExit) as exit_code:
        rollback_main(["all", "--yes"], registry=TargetRegistry([base, app]))

    assert exit_code.value.code == 0
    lines = [line for line in capsys.readouterr().out.splitlines() if "rolled back" in line]
    assert [line.split(" ")[0] for line in lines] == ["app", "base"]


def test_rollback_without_a_rollback_file_refuses(
    sample: DatabaseTarget, empty_database_url: str
) -> None:
    write_migration(sample, "0001_create_a", "CREATE TABLE a (id int);")
    migrate(sample, empty_database_url, requirement_met=never_required)

    with pytest.raises(MigrationError, match="0001_create_a has no rollback file"):
        rollback(sample, empty_database_url)
    assert "a" in tables(empty_database_url)


def test_app_migration_waits_for_the_core_migration_it_requires(
    tmp_path: Path, make_database: MakeDatabase, monkeypatch: pytest.MonkeyPatch
) -> None:
    base = sample_target(tmp_path / "base", name="base")
    app = sample_target(tmp_path / "app", name="app", depends_on=("base",))
    write_migration(base, "0001_create_users", "CREATE TABLE users (id int);")
    write_migration(
        app,
        "0001_create_orders",
        "-- Orders refer to users.\n-- requires: base 0001_create_users\n"
        "CREATE TABLE orders (user_id int);",
    )
    base_url, app_url = make_database("base"), make_database("app")
    monkeypatch.setenv(base.url_env, base_url)
    monkeypatch.setenv(app.url_env, app_url)
    met = requirement_checker(TargetRegistry([base, app]))

    with pytest.raises(MigrationError) as refusal:
        migrate(app, app_url, requirement_met=met)
    assert str(refusal.value) == (
        "0001_create_orders requires base migration 0001_create_users, which is not applied yet;"
        " run `uv run db-migrate base` first"
    )
    assert "orders" not in tables(app_url)

    migrate(base, base_url, requirement_met=met)
    assert migrate(app, app_url, requirement_met=met) == ["0001_create_orders"]


def test_files_stay_runnable_by_the_stock_yoyo_cli(
    sample: DatabaseTarget, empty_database_url: str
) -> None:
    write_migration(
        sample, "0001_create_a", "-- depends:\nCREATE TABLE a (id int);", "DROP TABLE a;"
    )
    write_migration(
        sample,
        "0002_create_b",
        "-- requires: core 20261123_200000_enable_citext\nCREATE TABLE b (id int);",
        "DROP TABLE b;",
    )
    yoyo_database = empty_database_url.replace("postgresql://", "postgresql+psycopg://", 1)

    result = run_script(
        "yoyo",
        "apply",
        "--batch",
        "--no-config-file",
        "--database",
        yoyo_database,
        str(sample.migrations),
        env={},
    )

    assert result.returncode == 0, result.stderr
    assert {"a", "b"} <= tables(empty_database_url)
    assert status(sample, empty_database_url).pending == []
    assert migrate(sample, empty_database_url, requirement_met=never_required) == []
    assert rollback(sample, empty_database_url, count=2) == ["0002_create_b", "0001_create_a"]


def test_lock_timeout_stops_a_migration_from_queueing_live_queries(
    sample: DatabaseTarget, empty_database_url: str
) -> None:
    with psycopg.connect(empty_database_url, autocommit=True) as setup:
        setup.execute("CREATE TABLE busy (id int)")
    write_migration(sample, "0001_alter_busy", "ALTER TABLE busy ADD COLUMN note text;")
    settings = DatabaseSettings(migration_lock_timeout="300ms")

    with psycopg.connect(empty_database_url) as reader:
        reader.execute("SELECT count(*) FROM busy")  # holds a lock until its transaction ends
        with pytest.raises(MigrationError) as failure:
            migrate(sample, empty_database_url, requirement_met=never_required, settings=settings)
        # A query that arrives after the failed ALTER runs at once, as the lock is gone.
        other = threading.Thread(target=count_rows, args=(empty_database_url, "busy"))
        other.start()
        other.join(timeout=10)
        assert not other.is_alive()

    assert "canceling statement due to lock timeout" in str(failure.value)
    assert status(sample, empty_database_url).pending == ["0001_alter_busy"]


def test_non_transactional_migration_runs_outside_a_transaction(
    sample: DatabaseTarget, empty_database_url: str
) -> None:
    write_migration(sample, "0001_create_a", "CREATE TABLE a (id int);")
    write_migration(
        sample, "0002_index_a", "-- transactional: false\nCREATE INDEX CONCURRENTLY a_id ON a (id);"
    )

    assert migrate(sample, empty_database_url, requirement_met=never_required) == [
        "0001_create_a",
        "0002_index_a",
    ]
    with psycopg.connect(empty_database_url) as connection:
        assert connection.execute("SELECT to_regclass('a_id')").fetchone() == ("a_id",)


def test_db_new_creates_a_timestamped_migration_and_rollback(
    sample: DatabaseTarget, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_code:
        new_main(["sample", "create_vehicles"], registry=TargetRegistry([sample]))

    assert exit_code.value.code == 0
    created = sorted(p.name for p in sample.migrations.iterdir())
    assert len(created) == 2
    stamp = created[0].removesuffix("_create_vehicles.rollback.sql")
    assert created == [f"{stamp}_create_vehicles.rollback.sql", f"{stamp}_create_vehicles.sql"]
    assert len(stamp) == len("20261123_201500")
    assert stamp.replace("_", "").isdigit()
    assert capsys.readouterr().out.count("created ") == 2


def test_db_new_refuses_a_bad_name(
    sample: DatabaseTarget, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_code:
        new_main(["sample", "Create Vehicles"], registry=TargetRegistry([sample]))

    assert exit_code.value.code == 1
    assert "must be lower-case words joined by underscores" in capsys.readouterr().err
    assert list(sample.migrations.iterdir()) == []
