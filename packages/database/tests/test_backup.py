"""db-backup and db-restore against real databases: core and a sample app target with data."""

from __future__ import annotations

import hashlib
import os
import re
import stat
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql

from atriz_database.backup import dump_database
from atriz_database.cli.db import migrate_main, status_main
from atriz_database.cli.ops import backup_main, restore_main
from atriz_database.connections import drop_database
from atriz_database.targets import DatabaseTarget, TargetRegistry
from atriz_database.testing import MakeDatabase, run_script, sample_target, write_migration
from atriz_database.urls import maintenance_url, with_database

CORE = TargetRegistry.from_entry_points().get("core")
THINGS = """
CREATE TABLE things (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    owner_id uuid NOT NULL,
    name text NOT NULL,
    price numeric(10, 2) NOT NULL,
    tags jsonb NOT NULL DEFAULT '{}',
    blob bytea,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE thing_notes (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    thing_id bigint NOT NULL REFERENCES things (id),
    body text NOT NULL
);
"""
NOTES = "ALTER TABLE thing_notes ADD COLUMN pinned boolean NOT NULL DEFAULT false;"


class Cli:
    """Runs a `*_main` in this process with a fixed registry; returns (exit code, out, err)."""

    def __init__(self, registry: TargetRegistry, capsys: pytest.CaptureFixture[str]) -> None:
        self.registry = registry
        self.capsys = capsys

    def __call__(self, main: Callable[..., None], *args: str | Path) -> tuple[int, str, str]:
        self.capsys.readouterr()
        with pytest.raises(SystemExit) as exited:
            main([str(a) for a in args], registry=self.registry)
        captured = self.capsys.readouterr()
        return int(exited.value.code or 0), captured.out, captured.err


@pytest.fixture
def app(tmp_path: Path) -> DatabaseTarget:
    target = sample_target(tmp_path / "app", depends_on=("core",))
    write_migration(target, "0001_create_things", THINGS, "DROP TABLE thing_notes, things;")
    return target


@pytest.fixture
def urls(
    app: DatabaseTarget,
    make_database: MakeDatabase,
    postgres_server_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[dict[str, str]]:
    """Fresh, migrated databases for core and the app; the restores' leftovers dropped after."""
    made = {}
    for target in (CORE, app):
        made[target.name] = make_database(target.name)
        monkeypatch.setenv(target.url_env, made[target.name])
    yield made
    with psycopg.connect(postgres_server_url, autocommit=True) as connection:
        names = [psycopg.conninfo.conninfo_to_dict(url)["dbname"] for url in made.values()]
        for name in names:
            leftovers = connection.execute(
                "SELECT datname FROM pg_database WHERE datname LIKE %s",
                (f"{str(name)[:40]}%_re%",),
            ).fetchall()
            for (leftover,) in leftovers:
                connection.execute(
                    sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                        sql.Identifier(leftover)
                    )
                )


@pytest.fixture
def cli(app: DatabaseTarget, capsys: pytest.CaptureFixture[str]) -> Cli:
    return Cli(TargetRegistry([CORE, app]), capsys)


@pytest.fixture
def filled(cli: Cli, urls: dict[str, str]) -> dict[str, str]:
    """Both databases migrated and holding rows."""
    code, _, err = cli(migrate_main, "all")
    assert code == 0, err
    with psycopg.connect(urls["core"], autocommit=True) as connection:
        connection.execute(
            "INSERT INTO users (email, password_hash, name)"
            " SELECT 'user' || n || '@example.com', 'hash' || n, 'User ' || n"
            " FROM generate_series(1, 40) AS n"
        )
        connection.execute(
            "INSERT INTO user_roles (user_id, role_id)"
            " SELECT u.id, r.id FROM users u, roles r WHERE u.email LIKE 'user1%%'"
        )
    with psycopg.connect(urls["sample"], autocommit=True) as connection:
        connection.execute(
            "INSERT INTO things (owner_id, name, price, tags, blob)"
            " SELECT gen_random_uuid(), 'thing ' || n, n * 1.25, jsonb_build_object('n', n),"
            " decode(md5(n::text), 'hex') FROM generate_series(1, 600) AS n"
        )
        connection.execute(
            "INSERT INTO thing_notes (thing_id, body)"
            " SELECT 1 + n % 600, repeat('note ', n % 40) FROM generate_series(1, 1500) AS n"
        )
    return urls


def snapshot(url: str) -> dict[str, tuple[Any, ...]]:
    """Per table: row count, a digest of every row, and a sample of rows."""
    tables: dict[str, tuple[Any, ...]] = {}
    with psycopg.connect(url) as connection:
        names = connection.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1"
        ).fetchall()
        for (name,) in names:
            table = sql.Identifier(name)
            count = connection.execute(sql.SQL("SELECT count(*) FROM {}").format(table)).fetchone()
            rows = connection.execute(
                sql.SQL("SELECT t::text FROM {} AS t ORDER BY 1").format(table)
            ).fetchall()
            texts = [r[0] for r in rows]
            digest = hashlib.sha256("\n".join(texts).encode()).hexdigest()
            tables[name] = (count[0] if count else None, digest, texts[:: max(1, len(texts) // 7)])
    return tables


def dumps_in(output: str) -> dict[str, Path]:
    return {m[1]: Path(m[2]) for m in re.finditer(r"^(\w+): dumped \S+ to (\S+) ", output, re.M)}


def database_names(url: str) -> set[str]:
    """The database of `url` and those named after it (restores', replaced ones) on its server.

    Only those: other test runs share the server and come and go meanwhile."""
    name = str(psycopg.conninfo.conninfo_to_dict(url)["dbname"])
    with psycopg.connect(maintenance_url(url)) as connection:
        rows = connection.execute(
            "SELECT datname FROM pg_database WHERE starts_with(datname, %s)", (name,)
        ).fetchall()
    return {str(r[0]) for r in rows}


def test_backup_drop_restore_round_trip_keeps_every_row(
    cli: Cli, filled: dict[str, str], tmp_path: Path
) -> None:
    before = {name: snapshot(url) for name, url in filled.items()}
    assert before["core"]["users"][0] == 40
    assert before["sample"]["thing_notes"][0] == 1500

    umask = os.umask(0o022)  # the usual one: it must not make the dumps readable to others
    try:
        code, out, err = cli(backup_main, "all", "--out", tmp_path / "backups" / "daily")
    finally:
        os.umask(umask)
    assert code == 0, err
    dumps = dumps_in(out)
    assert list(dumps) == ["core", "sample"], out  # dependencies first
    for made in (tmp_path / "backups", tmp_path / "backups" / "daily"):
        assert stat.S_IMODE(made.stat().st_mode) == 0o700, made
    for dump in dumps.values():
        checksum = dump.with_name(dump.name + ".sha256")
        recorded = checksum.read_text().split()
        assert recorded == [hashlib.sha256(dump.read_bytes()).hexdigest(), dump.name]
        assert {stat.S_IMODE(p.stat().st_mode) for p in (dump, checksum)} == {0o600}
    assert re.search(r"\(\d+\.\d kB, \d+\.\d s; pg_dump /\S+\)", out), out

    for url in filled.values():
        drop_database(url)
    for name in ("core", "sample"):
        code, out, err = cli(restore_main, name, dumps[name])
        assert code == 0, err
        assert "migration(s) recorded in the dump" in out

    assert {name: snapshot(url) for name, url in filled.items()} == before
    with psycopg.connect(filled["sample"], autocommit=True) as connection:
        # Identity sequences came back too: a new row does not collide with a restored one.
        row = connection.execute(
            "INSERT INTO things (owner_id, name, price) VALUES (gen_random_uuid(), 'new', 1)"
            " RETURNING id"
        ).fetchone()
        assert row == (601,)
    core_database = psycopg.conninfo.conninfo_to_dict(filled["core"])["dbname"]
    with psycopg.connect(filled["core"]) as connection:
        # Core's grants come back: the database-level ones (applied from the dump's records)
        # and the reader's column grants.
        row = connection.execute(
            "SELECT has_database_privilege('public', %s, 'CONNECT'),"
            " has_database_privilege('atriz_app_reader', %s, 'CONNECT'),"
            " has_column_privilege('atriz_app_reader', 'users', 'email', 'SELECT'),"
            " has_column_privilege('atriz_app_reader', 'users', 'password_hash', 'SELECT')",
            (core_database, core_database),
        ).fetchone()
        assert row == (False, True, True, False)
    code, out, _ = cli(status_main, "all")
    assert code == 0
    assert "0 pending" in out
    assert "up to date" in cli(migrate_main, "all")[1]


def test_restore_replaces_data_only_with_force_and_keeps_the_previous_database(
    cli: Cli, filled: dict[str, str], tmp_path: Path
) -> None:
    _, out, _ = cli(backup_main, "sample", "--out", tmp_path)
    dump = dumps_in(out)["sample"]
    before = snapshot(filled["sample"])
    with psycopg.connect(filled["sample"], autocommit=True) as connection:
        connection.execute("DELETE FROM thing_notes WHERE id > 100")

    code, out, err = cli(restore_main, "sample", dump)
    assert code == 1
    assert len(err.strip().splitlines()) == 1, err
    assert "the database holds data; pass --force to replace it" in err
    assert snapshot(filled["sample"])["thing_notes"][0] == 100

    with psycopg.connect(filled["sample"], autocommit=True) as client:
        # A client of the old database does not stop the swap: its session is ended.
        code, out, err = cli(restore_main, "sample", dump, "--force")
        assert code == 0, err
        with pytest.raises(psycopg.OperationalError):
            client.execute("SELECT 1")
    assert snapshot(filled["sample"]) == before
    kept = re.search(r"the previous database is kept as (\S+) ", out)
    assert kept is not None, out
    replaced_url = with_database(filled["sample"], kept[1])
    assert snapshot(replaced_url)["thing_notes"][0] == 100  # the previous data, kept

    code, out, err = cli(restore_main, "sample", dump, "--force", "--drop-replaced")
    assert code == 0, err
    assert "the previous database was dropped" in out
    assert snapshot(filled["sample"]) == before
    # No restore database left behind, the dropped one gone, the first one still kept.
    assert database_names(filled["sample"]) == {kept[1].split("_replaced_")[0], kept[1]}


def test_production_restore_needs_force_even_into_an_empty_database(
    cli: Cli, urls: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert cli(migrate_main, "all")[0] == 0
    _, out, _ = cli(backup_main, "sample", "--out", tmp_path)
    dump = dumps_in(out)["sample"]
    drop_database(urls["sample"])
    monkeypatch.setenv("ATRIZ_ENV", "production")

    code, _, err = cli(restore_main, "sample", dump)
    assert code == 1
    assert "a restore replaces the database; in production pass --force" in err
    assert len(err.strip().splitlines()) == 1
    assert database_names(urls["sample"]) == set()

    code, _, err = cli(restore_main, "sample", dump, "--force")
    assert code == 0, err


def test_a_damaged_dump_is_refused_in_one_line_and_the_target_is_untouched(
    cli: Cli, filled: dict[str, str], tmp_path: Path
) -> None:
    _, out, _ = cli(backup_main, "sample", "--out", tmp_path)
    dump = dumps_in(out)["sample"]
    before = snapshot(filled["sample"])
    names_before = database_names(filled["sample"])
    data = bytearray(dump.read_bytes())
    data[len(data) // 2] ^= 0xFF
    dump.write_bytes(bytes(data))

    code, _, err = cli(restore_main, "sample", dump, "--force")
    assert code == 1
    assert len(err.strip().splitlines()) == 1, err
    assert "checksum mismatch" in err
    assert "the file is damaged or incomplete" in err

    dump.with_name(dump.name + ".sha256").unlink()
    code, _, err = cli(restore_main, "sample", dump, "--force")
    assert code == 1
    assert len(err.strip().splitlines()) == 1, err
    assert "no checksum file" in err
    assert snapshot(filled["sample"]) == before
    assert database_names(filled["sample"]) == names_before


@pytest.mark.parametrize("keep", [0.05, 0.6, 0.97])
def test_a_truncated_dump_with_a_matching_checksum_fails_in_one_line_and_changes_nothing(
    keep: float, cli: Cli, filled: dict[str, str], tmp_path: Path
) -> None:
    _, out, _ = cli(backup_main, "sample", "--out", tmp_path)
    dump = dumps_in(out)["sample"]
    data = dump.read_bytes()[: int(len(dump.read_bytes()) * keep)]
    dump.write_bytes(data)
    checksum = dump.with_name(dump.name + ".sha256")
    checksum.write_text(f"{hashlib.sha256(data).hexdigest()}  {dump.name}\n")
    before = snapshot(filled["sample"])
    names_before = database_names(filled["sample"])

    code, _, err = cli(restore_main, "sample", dump, "--force")
    assert code == 1
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    assert snapshot(filled["sample"]) == before
    assert database_names(filled["sample"]) == names_before


def test_a_dump_from_a_newer_migration_set_is_refused(
    cli: Cli, app: DatabaseTarget, filled: dict[str, str], tmp_path: Path
) -> None:
    write_migration(app, "0002_pin_notes", NOTES, "ALTER TABLE thing_notes DROP COLUMN pinned;")
    assert cli(migrate_main, "sample")[0] == 0
    _, out, _ = cli(backup_main, "sample", "--out", tmp_path)
    dump = dumps_in(out)["sample"]
    before = snapshot(filled["sample"])
    names_before = database_names(filled["sample"])
    # The code goes back to before 0002: the dump is newer than it.
    for path in app.migrations.glob("0002_*"):
        path.unlink()

    code, _, err = cli(restore_main, "sample", dump, "--force")
    assert code == 1
    assert len(err.strip().splitlines()) == 1, err
    assert "dump is from a newer migration set" in err
    assert "0002_pin_notes" in err
    assert snapshot(filled["sample"]) == before
    assert database_names(filled["sample"]) == names_before


def test_a_dump_of_another_target_is_refused(
    cli: Cli, filled: dict[str, str], tmp_path: Path
) -> None:
    _, out, _ = cli(backup_main, "core", "--out", tmp_path)
    before = snapshot(filled["sample"])
    code, _, err = cli(restore_main, "sample", dumps_in(out)["core"], "--force")
    assert code == 1
    assert len(err.strip().splitlines()) == 1, err
    assert "the dump records none of sample's migrations" in err
    assert snapshot(filled["sample"]) == before
    assert database_names(filled["sample"]) == {
        psycopg.conninfo.conninfo_to_dict(filled["sample"])["dbname"]
    }


def test_a_dump_of_a_database_without_migrations_is_refused(
    cli: Cli,
    app: DatabaseTarget,
    filled: dict[str, str],
    make_database: MakeDatabase,
    tmp_path: Path,
) -> None:
    """A dump of some other database, which records no migration at all, does not replace the
    target, even with --force."""
    other = make_database("other")
    with psycopg.connect(other, autocommit=True) as connection:
        connection.execute("CREATE TABLE unrelated (id int)")
    dump = dump_database(app, other, tmp_path).path
    before = snapshot(filled["sample"])

    code, _, err = cli(restore_main, "sample", dump, "--force")

    assert code == 1
    assert "the dump records none of sample's migrations: it is a dump of another" in err
    assert snapshot(filled["sample"]) == before


def test_after_a_restore_status_shows_the_dumps_migrations_and_migrate_brings_it_forward(
    cli: Cli, app: DatabaseTarget, filled: dict[str, str], tmp_path: Path
) -> None:
    _, out, _ = cli(backup_main, "sample", "--out", tmp_path)
    dump = dumps_in(out)["sample"]
    write_migration(app, "0002_pin_notes", NOTES, "ALTER TABLE thing_notes DROP COLUMN pinned;")
    assert cli(migrate_main, "sample")[0] == 0

    code, _, err = cli(restore_main, "sample", dump, "--force")
    assert code == 0, err
    code, out, _ = cli(status_main, "sample")
    assert "1 applied, 1 pending" in out
    assert "pending  0002_pin_notes" in out
    code, out, err = cli(migrate_main, "sample")
    assert code == 0, err
    assert "applied 0002_pin_notes" in out
    assert snapshot(filled["sample"])["thing_notes"][0] == 1500


def test_backup_of_an_unreachable_database_is_one_line(
    cli: Cli, urls: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SAMPLE_DATABASE_URL", "postgresql://postgres@127.0.0.1:1/nowhere")
    code, _, err = cli(backup_main, "sample", "--out", tmp_path / "out")
    assert code == 1
    assert err.strip() == (
        "db-backup: error: cannot connect to PostgreSQL at 127.0.0.1:1/nowhere: Connection refused"
    )
    assert not (tmp_path / "out").exists()

    # With all, the other databases are still dumped; the exit code says one failed.
    code, out, err = cli(backup_main, "all", "--out", tmp_path / "out")
    assert code == 1
    assert list(dumps_in(out)) == ["core"]
    assert err.strip().splitlines() == [
        "db-backup: error: cannot connect to PostgreSQL at 127.0.0.1:1/nowhere: Connection refused"
    ]


def test_a_pg_dump_older_than_the_server_is_refused(
    cli: Cli, urls: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    old = tmp_path / "old-bin"
    old.mkdir()
    program = old / "pg_dump"
    program.write_text("#!/bin/sh\necho 'pg_dump (PostgreSQL) 9.6.24'\n")
    program.chmod(0o755)
    monkeypatch.setenv("ATRIZ_PG_BINDIR", str(old))
    code, _, err = cli(backup_main, "sample", "--out", tmp_path / "out")
    assert code == 1
    assert len(err.strip().splitlines()) == 1
    assert f"pg_dump 9.6 ({program}) is older than the server (PostgreSQL " in err
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").iterdir())


@pytest.mark.slow
def test_every_registered_target_round_trips_through_the_commands(
    cli_env: dict[str, str], tmp_path: Path
) -> None:
    """The installed targets (core, and each app once it registers), seeded, as a user runs it."""
    targets = TargetRegistry.from_entry_points().select("all")
    for command in ("db-create", "db-migrate", "db-seed"):
        result = run_script(command, "all", env=cli_env)
        assert result.returncode == 0, result.stderr
    urls = {target.name: cli_env[target.url_env] for target in targets}
    before = {name: snapshot(url) for name, url in urls.items()}
    assert before["core"]["users"][0] > 0

    backup = run_script("db-backup", "all", "--out", str(tmp_path), env=cli_env)
    assert backup.returncode == 0, backup.stderr
    dumps = dumps_in(backup.stdout)
    assert list(dumps) == [target.name for target in targets]

    for target in reversed(targets):
        drop_database(urls[target.name])
    for target in targets:
        restored = run_script("db-restore", target.name, str(dumps[target.name]), env=cli_env)
        assert restored.returncode == 0, restored.stderr

    assert {name: snapshot(url) for name, url in urls.items()} == before
    for command in ("db-status", "db-check-refs"):
        result = run_script(command, "all", env=cli_env)
        assert result.returncode == 0, result.stdout + result.stderr


def test_no_owner_and_no_acl_leave_the_dumps_roles_out(
    cli: Cli, filled: dict[str, str], tmp_path: Path
) -> None:
    _, out, _ = cli(backup_main, "core", "--out", tmp_path)
    drop_database(filled["core"])
    code, _, err = cli(restore_main, "core", dumps_in(out)["core"], "--no-owner", "--no-acl")
    assert code == 0, err
    core_database = psycopg.conninfo.conninfo_to_dict(filled["core"])["dbname"]
    with psycopg.connect(filled["core"]) as connection:
        row = connection.execute(
            "SELECT has_database_privilege('public', %s, 'CONNECT'),"
            " has_column_privilege('atriz_app_reader', 'users', 'email', 'SELECT'),"
            " (SELECT count(*) FROM users)",
            (core_database,),
        ).fetchone()
    # The database keeps PostgreSQL's default grants and the reader none: grant them again.
    assert row == (True, False, 40)


def test_a_restored_atriz_shared_renumbers_the_user_events_of_another_server(
    cli: Cli, filled: dict[str, str], tmp_path: Path
) -> None:
    """On a new server the restored events' transaction ids, those of the old one, would sort
    after every event recorded there, and hide from every reader until its ids caught up (see
    `atriz_core.client.user_events`). Those of this server keep theirs."""
    with psycopg.connect(filled["core"], autocommit=True) as connection:
        far = connection.execute(
            "SELECT pg_snapshot_xmax(pg_current_snapshot())::text::bigint + 1000000000"
        ).fetchone()
        assert far is not None
        connection.execute(
            "INSERT INTO user_events (user_id, event_type, txid)"
            " SELECT id, 'deleted', %s::text::xid8 FROM users ORDER BY email LIMIT 3",
            (str(far[0]),),
        )
        connection.execute(
            "INSERT INTO user_events (user_id, event_type)"
            " SELECT id, 'deactivated' FROM users ORDER BY email DESC LIMIT 1"
        )
        here = connection.execute(
            "SELECT txid::text FROM user_events WHERE event_type = 'deactivated'"
        ).fetchone()
    _, out, _ = cli(backup_main, "core", "--out", tmp_path)

    code, _, err = cli(restore_main, "core", dumps_in(out)["core"], "--force")

    assert code == 0, err
    with psycopg.connect(filled["core"]) as connection:
        row = connection.execute(
            "SELECT count(*) FILTER (WHERE txid >= pg_snapshot_xmax(pg_current_snapshot())),"
            " count(*), (SELECT txid::text FROM user_events WHERE event_type = 'deactivated')"
            " FROM user_events"
        ).fetchone()
    assert row == (0, 4, here[0] if here else None)
