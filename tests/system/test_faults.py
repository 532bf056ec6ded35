"""The fault scripts (`scripts/faults/`), run as an operator runs them: each must pass."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow
FAULTS = Path(__file__).parents[2] / "scripts" / "faults"


def run_fault(script: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(FAULTS / script), *args],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_postgres_restart_under_load_gives_no_500_and_recovers() -> None:
    result = run_fault("postgres_restart.py", "--seconds", "10")

    assert result.returncode == 0, result.stdout + result.stderr
    assert "PostgreSQL restarted at" in result.stdout
    assert "PASS no 500s" in result.stdout


def test_an_exhausted_pool_refuses_quickly_with_retry_after() -> None:
    result = run_fault("pool_exhausted.py", "--seconds", "10")

    assert result.returncode == 0, result.stdout + result.stderr
    assert "tables locked from" in result.stdout
    assert "PASS every refusal a 503 with Retry-After" in result.stdout


def test_pshop_killed_mid_sales_leaves_no_partial_sale() -> None:
    result = run_fault("service_killed.py", "--seconds", "8")

    assert result.returncode == 0, result.stdout + result.stderr
    assert "pshop killed at" in result.stdout
    assert "PASS no partial sale, one sale per key, stock equals the ledger" in result.stdout


def test_a_migrator_killed_in_each_database_needs_no_repair() -> None:
    result = run_fault("migrator_killed.py")

    assert result.returncode == 0, result.stdout + result.stderr
    for database in ("atriz_shared", "atriz_db", "mextrack_db", "pshop_db"):
        assert f"\n{database} " in result.stdout, database
    assert "PASS every db-migrate after a kill -9 succeeded" in result.stdout


def test_user_deletions_reach_every_app_across_restarts_and_a_crash() -> None:
    result = run_fault("consumers_killed.py", "--users", "20")

    assert result.returncode == 0, result.stdout + result.stderr
    assert "apps killed" in result.stdout
    assert "pshop removed users: 20/20 deleted users, 0 kept users" in result.stdout
    assert "PASS every deletion reached every app" in result.stdout


def test_apps_serve_on_while_core_and_its_database_are_down() -> None:
    result = run_fault("core_down.py")

    assert result.returncode == 0, result.stdout + result.stderr
    assert "PASS with core down" in result.stdout
