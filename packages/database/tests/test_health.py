"""db-status --health, run as a user runs it, on live and unreachable databases."""

from __future__ import annotations

import json
import time

import psycopg

from atriz_database.testing import run_script

UNREACHABLE = "postgresql://postgres@127.0.0.1:1/atriz_shared"


def preloads_statement_statistics(url: str) -> bool:
    with psycopg.connect(url) as connection:
        row = connection.execute("SHOW shared_preload_libraries").fetchone()
    return "pg_stat_statements" in str(row[0] if row else "")


def migrated(env: dict[str, str]) -> str:
    for command in ("db-create", "db-migrate"):
        result = run_script(command, "core", env=env)
        assert result.returncode == 0, result.stderr
    return env["SHARED_DATABASE_URL"]


def test_health_of_a_live_database(cli_env: dict[str, str]) -> None:
    url = migrated(cli_env)
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute(
            "INSERT INTO users (email, password_hash, name)"
            " SELECT 'u' || n || '@example.com', 'x', 'U' FROM generate_series(1, 50) AS n"
        )
        connection.execute("DELETE FROM users WHERE email LIKE 'u1%%'")
        connection.execute("SELECT pg_stat_force_next_flush()")
    # Closing the session flushed its statistics: the dead rows are counted.

    with psycopg.connect(url) as idle:
        idle.execute("SELECT 1 FROM users LIMIT 1")  # opens a transaction and leaves it idle
        time.sleep(1.1)
        result = run_script("db-status", "--health", "core", env=cli_env)

    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("core (")
    assert ": reachable, PostgreSQL " in lines[0]
    assert "  connections: 1 idle in transaction" in lines
    longest = next(line for line in lines if line.startswith("  longest transaction: "))
    assert float(longest.split()[2]) >= 1.0  # ours is open for over a second, or an older one
    assert any(line.startswith("  cache hit ratio: ") for line in lines)
    users = next(line for line in lines if line.startswith("    users: "))
    assert " 39 live, 11 dead (22.0%)" in users
    if not preloads_statement_statistics(url):
        assert (
            "  slowest statements: unavailable: pg_stat_statements is not in the server's"
            " shared_preload_libraries"
        ) in lines
    assert "Traceback" not in result.stderr


def test_health_json_parses_and_holds_every_figure(cli_env: dict[str, str]) -> None:
    url = migrated(cli_env)
    result = run_script("db-status", "--health", "core", "--json", env=cli_env)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    (core,) = [d for d in report["databases"] if d["target"] == "core"]
    assert core["reachable"] is True
    assert core["error"] is None
    assert core["database"] == psycopg.conninfo.conninfo_to_dict(url)["dbname"]
    assert core["server_version"][0].isdigit()
    assert core["bytes"] > 0
    assert isinstance(core["connections"], dict)
    assert 0 <= (core["cache_hit_ratio"] or 0) <= 1
    tables = {t["table"]: t for t in core["largest_tables"]}
    assert tables, core
    assert set(next(iter(tables.values()))) == {
        "table",
        "bytes",
        "live_rows",
        "dead_rows",
        "dead_ratio",
        "last_autovacuum",
    }
    if preloads_statement_statistics(url):
        assert isinstance(core["slowest_statements"], list)
    else:
        assert core["slowest_statements"] is None
        assert "shared_preload_libraries" in core["statements_unavailable"]


def test_health_of_an_unreachable_database_is_one_line_and_fails(
    cli_env: dict[str, str],
) -> None:
    env = {**cli_env, "SHARED_DATABASE_URL": UNREACHABLE}
    result = run_script("db-status", "--health", "core", env=env)
    assert result.returncode == 1
    assert result.stdout.strip() == (
        "core (127.0.0.1:1/atriz_shared): unreachable: cannot connect to PostgreSQL at"
        " 127.0.0.1:1/atriz_shared: Connection refused"
    )
    assert "Traceback" not in result.stderr

    as_json = run_script("db-status", "--health", "core", "--json", env=env)
    assert as_json.returncode == 1
    (core,) = json.loads(as_json.stdout)["databases"]
    assert core["reachable"] is False
    assert "Connection refused" in core["error"]


def test_health_of_a_missing_database_says_why(cli_env: dict[str, str]) -> None:
    result = run_script("db-status", "--health", "core", env=cli_env)
    assert result.returncode == 1
    (line,) = result.stdout.strip().splitlines()
    assert ": unreachable: " in line
    assert "does not exist" in line


def test_json_without_health_is_a_usage_error(cli_env: dict[str, str]) -> None:
    result = run_script("db-status", "core", "--json", env=cli_env)
    assert result.returncode == 2
    assert "--json goes with --health" in result.stderr
