"""The binary COPY writer stores exactly what asyncpg's own encoding stores, row for row: in
general, and for a judged batch copied into `positions`."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np

from atriz_core.testing import UserFactory, beside
from atriz_mextrack.positions.binary_copy import CopyColumn, binary_copy, copy_source
from atriz_mextrack.positions.repository import COPY_COLUMNS, copy_positions
from atriz_mextrack.positions.schemas import PointIn
from atriz_mextrack.positions.track import Batch, judge, unix_microseconds

Mextrack = Any  # the `mextrack` fixture's value (conftest.Mextrack)
TABLE = """
CREATE TABLE {name} (
    id uuid, at timestamptz, x float8, y real, maybe real, label text
)
"""
COLUMNS = ("id", "at", "x", "y", "maybe", "label")


async def test_every_shape_of_row_arrives_as_asyncpg_would_store_it(mextrack: Mextrack) -> None:
    rng = random.Random(5)  # noqa: S311 - test data, not a secret
    vehicle = uuid.uuid4()
    start = datetime(2026, 12, 1, tzinfo=UTC)
    rows = [
        (
            vehicle,
            start + timedelta(microseconds=rng.randrange(-(10**15), 10**15)),
            rng.uniform(-180, 180),
            rng.uniform(0, 400),  # a float8 rounded to real by the client, as asyncpg does
            rng.choice((None, rng.uniform(-1000, 9000))),
            rng.choice(("ok", "jump", "", "ñandú")),
        )
        for _ in range(2_000)
    ]
    maybe = np.array([row[4] for row in rows], dtype=np.float64)
    stream = binary_copy(
        [
            CopyColumn("uuid", vehicle.bytes),
            CopyColumn("timestamptz", unix_microseconds([row[1] for row in rows])),
            CopyColumn("float8", np.array([row[2] for row in rows])),
            CopyColumn("float4", np.array([row[3] for row in rows])),
            CopyColumn("float4", maybe, nulls=np.isnan(maybe)),
            CopyColumn("text", np.array([row[5].encode() for row in rows])),
        ],
        len(rows),
    )
    connection = await beside(mextrack.settings.database_url)
    try:
        for name in ("written", "encoded"):
            await connection.execute(TABLE.format(name=name))
        await connection.copy_to_table(
            "written", source=copy_source(stream), columns=COLUMNS, format="binary"
        )
        await connection.copy_records_to_table("encoded", records=rows, columns=COLUMNS)

        differ = await connection.fetchval(
            "SELECT count(*) FROM ((TABLE written EXCEPT ALL TABLE encoded)"
            " UNION ALL (TABLE encoded EXCEPT ALL TABLE written)) d"
        )
        shapes = await connection.fetchval(
            "SELECT count(DISTINCT (maybe IS NULL, octet_length(label))) FROM written"
        )
    finally:
        await connection.close()
    assert differ == 0
    assert shapes == 8, "NULL and non-NULL values, texts of four lengths"


async def test_a_judged_batch_lands_in_positions_as_asyncpg_would_store_it(
    mextrack: Mextrack, make_user: UserFactory
) -> None:
    rng = random.Random(8)  # noqa: S311 - test data, not a secret
    start = datetime(2026, 12, 1, 8, tzinfo=UTC)
    points = [
        PointIn(
            recorded_at=start + timedelta(seconds=i, microseconds=rng.randrange(10**6)),
            latitude=19.43 + (3.0 if i % 97 == 5 else 0.0),  # a wild fix now and then
            longitude=-99.13 + 0.0001 * i,
            speed_kmh=rng.uniform(0, 120),
            heading=rng.uniform(0, 359.9),
            altitude_m=rng.choice((None, rng.uniform(-50, 3000))),
            accuracy_m=rng.choice((None, rng.uniform(0, 50))),
        )
        for i in range(3_000)
    ]
    vehicle = uuid.UUID((await mextrack.vehicle(await make_user()))["id"])
    judged = judge(Batch.of(points), [], max_speed_kmh=300)
    new = [points[i] for i in judged.new]
    records = [
        (
            vehicle,
            p.recorded_at,
            p.latitude,
            p.longitude,
            p.speed_kmh,
            p.heading,
            p.altitude_m,
            p.accuracy_m,
            "jump" if flagged else "ok",
        )
        for p, flagged in zip(new, judged.jump.tolist(), strict=True)
    ]
    connection = await beside(mextrack.settings.database_url)
    try:
        await connection.execute("SELECT ensure_positions_partition($1)", start.date())
        await copy_positions(connection, vehicle, judged)
        await connection.execute(
            "CREATE TABLE encoded (LIKE positions INCLUDING DEFAULTS INCLUDING CONSTRAINTS)"
        )
        await connection.copy_records_to_table("encoded", records=records, columns=COPY_COLUMNS)
        columns = ", ".join(COPY_COLUMNS)
        differ = await connection.fetchval(
            f"SELECT count(*) FROM ((SELECT {columns} FROM positions"
            f"  EXCEPT ALL SELECT {columns} FROM encoded)"
            f" UNION ALL (SELECT {columns} FROM encoded"
            f"  EXCEPT ALL SELECT {columns} FROM positions)) d"
        )
        jumps = await connection.fetchval("SELECT count(*) FROM positions WHERE quality = 'jump'")
    finally:
        await connection.close()
    assert differ == 0
    assert jumps == int(judged.jump.sum()) > 0
