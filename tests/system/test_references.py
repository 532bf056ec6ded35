"""References across databases stay true: `db-check-refs all` over every app's declared user
columns, and `--fix` applying each app's own deletion policy to users whose event it missed."""

from __future__ import annotations

import psycopg
import pytest

from atriz_database.testing import run_script

pytestmark = pytest.mark.slow
ANA = "5eed0000-0000-4000-8000-000000000005"  # core's seeds: a vehicle owner and an author
CASHIER = "5eed0000-0000-4000-8000-000000000002"  # core's seeds: pshop sales


def test_seeded_system_has_no_dangling_reference_and_fix_repairs_missed_deletions(
    cli_env: dict[str, str],
) -> None:
    assert run_script("atriz", "dev", "--no-serve", env=cli_env).returncode == 0
    clean = run_script("db-check-refs", "all", env=cli_env)
    # Deleted behind the apps' backs: no user event, so no app applied its policy.
    with psycopg.connect(cli_env["SHARED_DATABASE_URL"], autocommit=True) as shared:
        shared.execute(
            "UPDATE users SET deleted_at = now(), is_active = false WHERE id = ANY(%s)",
            ([ANA, CASHIER],),
        )

    found = run_script("db-check-refs", "all", env=cli_env)
    fixed = run_script("db-check-refs", "all", "--fix", env=cli_env)
    after = run_script("db-check-refs", "all", env=cli_env)

    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert found.returncode == 1
    assert "vehicles.owner_id -> core users.id" in found.stdout
    assert f"gone     {ANA}" in found.stdout
    assert "articles.author_id" in found.stdout
    assert "sales.cashier_id" in found.stdout
    assert f"gone     {CASHIER}" in found.stdout
    assert fixed.returncode == 0, fixed.stdout + fixed.stderr
    assert "applied atriz_mextrack.users:repair_references" in fixed.stdout
    assert after.returncode == 0, after.stdout
    with psycopg.connect(cli_env["MEXTRACK_DATABASE_URL"]) as mextrack:
        row = mextrack.execute(
            "SELECT count(*) FROM vehicles WHERE owner_id IS NULL AND status = 'inactive'"
        ).fetchone()
    with psycopg.connect(cli_env["PSHOP_DATABASE_URL"]) as pshop:
        kept = pshop.execute(
            "SELECT count(*) FROM sales WHERE cashier_id = %s", (CASHIER,)
        ).fetchone()
    assert row is not None
    assert row[0] >= 2, "Ana's vehicles: owner cleared, deactivated"
    assert kept is not None
    assert kept[0] >= 1, "the cashier's sales stay, as history"
