"""Retention: whole days older than the period are dropped, nothing else, latest kept."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import replace
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any

import pytest
from httpx import ASGITransport, AsyncClient

from atriz_core.testing import TokenMinter, UserFactory, serving
from atriz_database.pool import connect
from atriz_mextrack.app import create_app
from atriz_mextrack.positions import partitions, retention
from atriz_mextrack.settings import MextrackSettings

Mextrack = Any
ATRIZ = Path(sys.executable).parent / "atriz"


def run_retention(settings: MextrackSettings, *args: str) -> str:
    environment = {
        **os.environ,
        "ATRIZ_ENV": "test",
        "MEXTRACK_DATABASE_URL": settings.database_url,
        "SHARED_DATABASE_URL": settings.shared_database_url,
    }
    environment.pop("MEXTRACK_RETENTION_DAYS", None)
    done = subprocess.run(
        [str(ATRIZ), "mextrack", "retention", *args],
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


async def test_retention_drops_only_whole_old_days_and_keeps_the_latest(
    mextrack: Mextrack, make_user: UserFactory, helpers: Any, now: datetime
) -> None:
    owner = await make_user()
    parked, driving = await mextrack.vehicle(owner), await mextrack.vehicle(owner)
    old, older = now - timedelta(days=9), now - timedelta(days=10)
    await mextrack.store(parked["id"], helpers.drive(older, 5), owner.headers)
    await mextrack.store(parked["id"], helpers.drive(old, 5), owner.headers)
    # The first minute of the day holding the cutoff (now - 5 days): older than the cutoff,
    # yet kept, its day being kept whole.
    cutoff = (now - timedelta(days=5)).astimezone(UTC)
    recent = datetime.combine(cutoff.date(), time(), UTC)
    await mextrack.store(driving["id"], helpers.drive(recent, 5), owner.headers)

    partitions = (
        "SELECT array_agg(relname::text) FROM pg_class WHERE relname ~ '^positions_p\\d{8}$'"
    )
    before = set(await mextrack.sql(partitions))
    unset = run_retention(mextrack.settings)
    dry = run_retention(mextrack.settings, "--days", "5", "--dry-run")
    assert await mextrack.sql("SELECT count(*) FROM positions") == 15
    applied = run_retention(mextrack.settings, "--days", "5")

    expected = {f"positions_p{day:%Y%m%d}" for day in (older, old)}
    dropped = {line.split()[1] for line in applied.splitlines() if line.startswith("dropped p")}
    assert "every position is kept" in unset
    assert "would drop 2 partition(s)" in dry
    assert dropped == expected
    assert await mextrack.sql("SELECT count(*) FROM positions") == 5
    for name in expected:
        assert await mextrack.sql("SELECT to_regclass($1)::text", name) is None
    # The day holding the cutoff stays whole, as does everything after it.
    assert set(await mextrack.sql(partitions)) == before - expected
    cutoff_day = f"positions_p{cutoff:%Y%m%d}"
    assert await mextrack.sql("SELECT to_regclass($1)::text", cutoff_day) == cutoff_day
    latest = await mextrack.rows("SELECT vehicle_id FROM latest_positions")
    assert {str(row[0]) for row in latest} == {parked["id"], driving["id"]}
    assert "dropped 0 partition(s)" in run_retention(mextrack.settings, "--days", "5")
    # The dropped days are forgotten: a read of the parked vehicle's track plans none of them.
    noted = await mextrack.rows("SELECT vehicle_id, day FROM vehicle_track_days")
    assert {(str(row[0]), row[1]) for row in noted} == {(driving["id"], cutoff.date())}


async def test_points_older_than_the_retention_period_are_refused(
    mextrack_settings: MextrackSettings,
    token_minter: TokenMinter,
    make_user: UserFactory,
    helpers: Any,
    now: datetime,
) -> None:
    app = create_app(
        replace(mextrack_settings, retention_days=5), verifier=token_minter.verifier("mextrack")
    )
    owner = await make_user()
    async with (
        serving(app),
        AsyncClient(transport=ASGITransport(app=app), base_url="http://m.test") as client,  # type: ignore[arg-type]
    ):
        created = await client.post(
            "/vehicles", json={"name": "a", "plate": "R-1"}, headers=owner.headers
        )
        points = helpers.drive(now - timedelta(days=4), 2) + helpers.drive(
            now - timedelta(days=6), 1
        )
        response = await client.post(
            f"/vehicles/{created.json()['id']}/positions", json=points, headers=owner.headers
        )

    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "[2].recorded_at"


async def test_a_batch_stored_while_retention_drops_its_day_stays_readable(
    mextrack: Mextrack,
    make_user: UserFactory,
    helpers: Any,
    now: datetime,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A batch of the day being dropped waits for the drop, then makes the day's partition
    again and notes the day again; forgetting the day after the drop's commit lost that note,
    and every read of the batch's points with it."""
    owner = await make_user()
    vehicle = await mextrack.vehicle(owner)
    old = now - timedelta(days=10)
    await mextrack.store(vehicle["id"], helpers.drive(old, 3), owner.headers)
    dropping = partitions.drop_partition

    async def drop_then_a_batch_arrives(conn: Any, partition: Any) -> None:
        await dropping(conn, partition)
        late = helpers.drive(old + timedelta(hours=1), 2)
        await mextrack.store(vehicle["id"], late, owner.headers)

    monkeypatch.setattr(partitions, "drop_partition", drop_then_a_batch_arrives)
    conn = await connect(mextrack.settings.database_url)
    try:
        await retention.apply_retention(conn, days=5, now=now)
    finally:
        await conn.close()

    assert await mextrack.sql("SELECT count(*) FROM positions") == 2
    listed = await mextrack.client.get(
        f"/vehicles/{vehicle['id']}/positions", headers=owner.headers
    )
    assert len(listed.json()["items"]) == 2
