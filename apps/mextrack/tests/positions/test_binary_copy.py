"""The binary COPY writer stores exactly what asyncpg's own encoding stores, row for row."""

from __future__ import annotations

import random
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np

from atriz_core.testing import beside
from atriz_mextrack.positions.binary_copy import CopyColumn, binary_copy
from atriz_mextrack.positions.track import unix_microseconds

Mextrack = Any  # the `mextrack` fixture's value (conftest.Mextrack)
TABLE = """
CREATE TABLE {name} (
    id uuid, at timestamptz, x float8, y real, maybe real, label text
)
"""
COLUMNS = ("id", "at", "x", "y", "maybe", "label")


async def _once(data: bytes) -> AsyncIterator[bytes]:
    yield data


async def test_every_shape_of_row_arrives_as_asyncpg_would_store_it(mextrack: Mextrack) -> None:
    rng = random.Random(5)  # noqa: S311 - test data, not a secret
    vehicle = uuid.uuid4()
    start = datetime(2026, 12, 1, tzinfo=UTC)
    rows = [
        (
            vehicle,
            start + timedelta(microseconds=rng.randrange(-(10**15), 10**15)),
            rng.uniform(-180, 180),
            rng.uniform(0, 400),  # a float8 rounded to real as PostgreSQL rounds it
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
            "written", source=_once(stream), columns=COLUMNS, format="binary"
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
