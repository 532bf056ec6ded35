"""The db-* console scripts, run as a user runs them, against real databases."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import psycopg
import pytest

from atriz_database import TargetRegistry
from atriz_database.testing import run_script

REPO = Path(__file__).resolve().parents[3]
CORE_MIGRATIONS = sorted(
    p.stem
    for p in TargetRegistry.from_entry_points().get("core").migrations.glob("*.sql")
    if not p.name.endswith(".rollback.sql")
)
COMMANDS = [
    "db-create",
    "db-migrate",
    "db-rollback",
    "db-status",
    "db-new",
    "db-seed",
    "db-clean",
    "db-reset",
    "db-check-refs",
    "db-backup",
    "db-restore",
    "atriz",
]


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help(command: str, cli_env: dict[str, str]) -> None:
    result = run_script(command, "--help", env=cli_env)
    assert result.returncode == 0
    assert "usage:" in result.stdout


def test_db_create_is_idempotent(cli_env: dict[str, str]) -> None:
    first = run_script("db-create", "all", env=cli_env)
    second = run_script("db-create", "all", env=cli_env)
    assert first.returncode == 0, first.stderr
    assert "core: created" in first.stdout
    assert second.returncode == 0, second.stderr
    assert "core: exists" in second.stdout


def test_migrate_status_and_rollback_round_trip(cli_env: dict[str, str]) -> None:
    assert run_script("db-create", "core", env=cli_env).returncode == 0

    dry = run_script("db-migrate", "core", "--dry-run", env=cli_env)
    assert dry.returncode == 0, dry.stderr
    assert all(f"would apply {m}" in dry.stdout for m in CORE_MIGRATIONS)
    pending = f"0 applied, {len(CORE_MIGRATIONS)} pending"
    assert pending in run_script("db-status", "core", env=cli_env).stdout

    applied = run_script("db-migrate", "core", env=cli_env)
    assert applied.returncode == 0, applied.stderr
    assert all(f"applied {m}" in applied.stdout for m in CORE_MIGRATIONS)
    # `core`, not `all`: every installed app registers a target whose database is not made here.
    status = run_script("db-status", "core", env=cli_env)
    assert status.returncode == 0, status.stderr
    assert f"{len(CORE_MIGRATIONS)} applied, 0 pending" in status.stdout
    assert "up to date" in run_script("db-migrate", "core", env=cli_env).stdout

    count = str(len(CORE_MIGRATIONS))
    unasked = run_script("db-rollback", "core", "--count", count, env=cli_env)
    assert unasked.returncode == 1
    assert "Refusing without --yes" in unasked.stderr
    production = {**cli_env, "ATRIZ_ENV": "production"}
    unforced = run_script("db-rollback", "core", "--count", count, "--yes", env=production)
    assert unforced.returncode == 1
    assert "in production pass --force" in unforced.stderr
    assert f"{len(CORE_MIGRATIONS)} applied" in run_script("db-status", "core", env=cli_env).stdout
    rolled = run_script("db-rollback", "core", "--count", count, "--yes", env=cli_env)
    assert rolled.returncode == 0, rolled.stderr
    assert all(f"rolled back {m}" in rolled.stdout for m in CORE_MIGRATIONS)
    with psycopg.connect(cli_env["SHARED_DATABASE_URL"]) as connection:
        row = connection.execute("SELECT count(*) FROM pg_extension WHERE extname = 'citext'")
        assert row.fetchone() == (0,)


@pytest.mark.skipif(shutil.which("uv") is None, reason="uv is not on PATH")
@pytest.mark.parametrize("folder", [".", "packages/core", "packages/database/src"])
def test_uv_run_db_migrate_core_works_from_any_folder(folder: str, cli_env: dict[str, str]) -> None:
    assert run_script("db-create", "core", env=cli_env).returncode == 0
    result = subprocess.run(
        ["uv", "run", "db-migrate", "core"],
        cwd=REPO / folder,
        env=cli_env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert f"applied {CORE_MIGRATIONS[-1]}" in result.stdout or "up to date" in result.stdout


def test_status_fails_on_pending_only_when_asked(cli_env: dict[str, str]) -> None:
    """`--fail-on-pending` is what a deployment waits on: exit 1 until the migrate job has
    applied every migration that this code ships, then 0."""
    assert run_script("db-create", "core", env=cli_env).returncode == 0

    assert run_script("db-status", "core", env=cli_env).returncode == 0
    waiting = run_script("db-status", "core", "--fail-on-pending", env=cli_env)
    assert waiting.returncode == 1
    assert f"0 applied, {len(CORE_MIGRATIONS)} pending" in waiting.stdout

    assert run_script("db-migrate", "core", env=cli_env).returncode == 0
    done = run_script("db-status", "core", "--fail-on-pending", env=cli_env)
    assert done.returncode == 0, done.stdout
    assert f"{len(CORE_MIGRATIONS)} applied, 0 pending" in done.stdout


def test_status_of_a_missing_database_says_how_to_create_it(cli_env: dict[str, str]) -> None:
    result = run_script("db-status", "core", env=cli_env)
    assert result.returncode == 1
    assert "does not exist (run `uv run db-create core`)" in result.stdout


def test_unknown_target_is_one_clear_line(cli_env: dict[str, str]) -> None:
    result = run_script("db-migrate", "nope", env=cli_env)
    assert result.returncode == 1
    # The installed apps' targets are listed between core and all.
    message = result.stderr.strip()
    assert message.startswith("db-migrate: error: unknown target 'nope' (known: core, ")
    assert message.endswith(", all)")
    assert "\n" not in message


def test_unreachable_server_is_one_line_naming_host_and_database(cli_env: dict[str, str]) -> None:
    env = {**cli_env, "SHARED_DATABASE_URL": "postgresql://postgres@127.0.0.1:1/atriz_shared"}
    for command in ("db-create", "db-migrate", "db-status"):
        result = run_script(command, "core", env=env)
        assert result.returncode == 1
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1, result.stderr
        assert "cannot connect to PostgreSQL at 127.0.0.1:1/atriz_shared" in lines[0]
        assert "Traceback" not in result.stderr


def test_unreachable_server_named_by_pghost(cli_env: dict[str, str]) -> None:
    env = {k: v for k, v in cli_env.items() if k != "SHARED_DATABASE_URL"}
    env.update(PGHOST="127.0.0.1", PGPORT="1", PGUSER="postgres")
    result = run_script("db-migrate", "core", env=env)
    assert result.returncode == 1
    assert "127.0.0.1:1/atriz_shared" in result.stderr


@pytest.mark.parametrize(
    "args", [["db-seed", "core"], ["db-clean", "core", "--yes"], ["db-reset", "core", "--yes"]]
)
def test_destructive_commands_refuse_in_production(
    args: list[str], cli_env: dict[str, str]
) -> None:
    assert run_script("db-create", "core", env=cli_env).returncode == 0
    result = run_script(*args, env={**cli_env, "ATRIZ_ENV": "production"})
    assert result.returncode == 1
    assert "refused when ATRIZ_ENV=production" in result.stderr


@pytest.mark.parametrize("command", ["db-create", "db-migrate", "db-status"])
def test_production_without_a_database_is_one_clear_line(
    command: str, cli_env: dict[str, str]
) -> None:
    # cli_env holds no PG* variable; without SHARED_DATABASE_URL only the embedded server is left.
    env = {k: v for k, v in cli_env.items() if k != "SHARED_DATABASE_URL"}
    result = run_script(command, "core", env={**env, "ATRIZ_ENV": "production"})
    assert result.returncode == 1
    assert result.stderr.strip() == (
        f"{command}: error: ATRIZ_ENV=production needs a configured database:"
        " set SHARED_DATABASE_URL (or PGHOST); the embedded PostgreSQL is for development and"
        " tests only"
    )
    assert not (Path(cli_env["ATRIZ_HOME"]) / ".atriz").exists(), "no embedded server started"


def test_atriz_dev_refuses_in_production(cli_env: dict[str, str]) -> None:
    result = run_script("atriz", "dev", "--no-serve", env={**cli_env, "ATRIZ_ENV": "production"})
    assert result.returncode == 1
    assert "refused" in result.stderr


def test_invalid_environment_name_is_a_clear_error(cli_env: dict[str, str]) -> None:
    result = run_script("db-status", "core", env={**cli_env, "ATRIZ_ENV": "prod"})
    assert result.returncode == 1
    assert "ATRIZ_ENV must be one of development, test, production" in result.stderr


def test_clean_without_a_terminal_needs_yes(cli_env: dict[str, str]) -> None:
    assert run_script("db-create", "core", env=cli_env).returncode == 0
    result = run_script("db-clean", "core", env=cli_env, stdin="y\n")
    assert result.returncode == 1
    assert "Refusing without --yes" in result.stderr


def test_clean_keeps_schema_and_migration_history(cli_env: dict[str, str]) -> None:
    url = cli_env["SHARED_DATABASE_URL"]
    assert run_script("db-create", "core", env=cli_env).returncode == 0
    assert run_script("db-migrate", "core", env=cli_env).returncode == 0
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute("CREATE TABLE notes (id bigserial PRIMARY KEY, body text)")
        connection.execute("INSERT INTO notes (body) VALUES ('a'), ('b')")

    result = run_script("db-clean", "core", "--yes", env=cli_env)
    assert result.returncode == 0, result.stderr

    with psycopg.connect(url, autocommit=True) as connection:
        assert connection.execute("SELECT count(*) FROM notes").fetchone() == (0,)
        inserted = connection.execute("INSERT INTO notes (body) VALUES ('c') RETURNING id")
        assert inserted.fetchone() == (1,), "sequences restart"
        history = connection.execute("SELECT migration_id FROM _yoyo_migration").fetchall()
        assert sorted(row[0] for row in history) == CORE_MIGRATIONS
        # Core's built-in roles come from a migration: without them no account gets `user`.
        roles = connection.execute("SELECT name FROM roles ORDER BY name").fetchall()
        assert [row[0] for row in roles] == sorted(
            [
                "admin",
                "user",
                "website.editor",
                "mextrack.dispatcher",
                "pshop.cashier",
                "pshop.manager",
            ]
        )
        assert connection.execute("SELECT count(*) FROM users").fetchone() == (0,)
    assert "kept roles" in result.stdout
    status = run_script("db-status", "core", env=cli_env).stdout
    assert f"{len(CORE_MIGRATIONS)} applied, 0 pending" in status


def test_reset_drops_and_rebuilds(cli_env: dict[str, str]) -> None:
    url = cli_env["SHARED_DATABASE_URL"]
    assert run_script("db-create", "core", env=cli_env).returncode == 0
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute("CREATE TABLE leftover (id int)")

    result = run_script("db-reset", "core", "--yes", env=cli_env)
    assert result.returncode == 0, result.stderr
    assert "core: dropped" in result.stdout

    with psycopg.connect(url, autocommit=True) as connection:
        assert connection.execute("SELECT to_regclass('leftover')").fetchone() == (None,)
        applied = connection.execute("SELECT count(*) FROM _yoyo_migration").fetchone()
        assert applied == (len(CORE_MIGRATIONS),)


def test_atriz_dev_creates_migrates_and_seeds_everything(cli_env: dict[str, str]) -> None:
    first = run_script("atriz", "dev", "--no-serve", env=cli_env)
    assert first.returncode == 0, first.stderr
    assert "core: created" in first.stdout
    second = run_script("atriz", "dev", "--no-serve", env=cli_env)
    assert second.returncode == 0, second.stderr
    assert "core: using" in second.stdout


def test_dotenv_is_read_and_the_environment_wins(cli_env: dict[str, str]) -> None:
    home = Path(cli_env["ATRIZ_HOME"])
    url = cli_env["SHARED_DATABASE_URL"]
    without_url = {k: v for k, v in cli_env.items() if k != "SHARED_DATABASE_URL"}

    (home / ".env").write_text(f"SHARED_DATABASE_URL={url}\n", encoding="utf-8")
    from_file = run_script("db-create", "core", env=without_url)
    assert from_file.returncode == 0, from_file.stderr
    assert "core: created" in from_file.stdout

    (home / ".env").write_text(
        "SHARED_DATABASE_URL=postgresql://postgres@127.0.0.1:1/elsewhere\n", encoding="utf-8"
    )
    env_wins = run_script("db-create", "core", env=cli_env)
    assert env_wins.returncode == 0, env_wins.stderr
    assert "core: exists" in env_wins.stdout
