"""Positions through mextrack's HTTP endpoint against the ceiling: a bare COPY into the table.

    uv run python scripts/bench/mextrack_ingest.py [--points 100000] [--rounds 3]

Serves mextrack under granian (2 workers, as in production) on a scratch database and posts
JSON batches of 1,000 and of 10,000 points (4 at a time, bodies encoded before the clock
starts) with a dispatcher's token. The ceiling, measured in the same rounds: asyncpg's
`copy_records_to_table` straight into `positions` (the same partitioned table, the same
indexes), in batches of 10,000 on 4 connections at once, records built before the clock
starts. Beside it, for information, the same COPY of rows encoded beforehand in PostgreSQL's
binary format (as mextrack encodes a batch): what PostgreSQL's part alone allows, since the
service encodes its rows faster than `copy_records_to_table` does. Each round runs the
baselines, then the HTTP measurements, then the baselines again; each measurement is set
against the mean of the baselines either side (this machine's speed drifts), and the median
over the rounds is reported. Target: >= 0.5 of the ceiling for batches of 10,000.

Every measurement writes fresh points (its own vehicles), so nothing is a duplicate.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import msgspec
import numpy as np
from _mextrack import dispatcher_token, mextrack_databases, minter, points, serving_mextrack

from atriz_mextrack.positions.binary_copy import CopyColumn, Kind, binary_copy, copy_source
from atriz_mextrack.positions.track import unix_microseconds

CONCURRENCY = 4
OWNER = uuid.UUID("5eed0000-0000-4000-8000-000000000005")


async def new_vehicles(url: str, count: int) -> list[uuid.UUID]:
    connection = await asyncpg.connect(url)
    try:
        rows = await connection.fetch(
            "INSERT INTO vehicles (owner_id, name, plate)"
            " SELECT $1, 'bench', 'B-' || substr(md5(random()::text), 1, 12)"
            " FROM generate_series(1, $2) RETURNING id",
            OWNER,
            count,
        )
    finally:
        await connection.close()
    return [row["id"] for row in rows]


def batches_for(
    vehicles: list[uuid.UUID], total: int, size: int
) -> list[tuple[uuid.UUID, list[Any]]]:
    """`total` points in batches of `size`, spread over `vehicles`, each vehicle's consecutive
    in time (a second apart, within the last day)."""
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=20)
    per_vehicle = -(-total // size // len(vehicles))
    out: list[tuple[uuid.UUID, list[Any]]] = []
    for v, vehicle in enumerate(vehicles):
        for b in range(per_vehicle):
            if len(out) * size >= total:
                break
            first = start + timedelta(seconds=b * size)
            out.append((vehicle, points(first, size, lat=19.0 + v * 0.01)))
    return out


async def http_rate(base: str, token: str, batches: list[tuple[uuid.UUID, list[Any]]]) -> float:
    bodies = [(vehicle, msgspec.json.encode(batch)) for vehicle, batch in batches]
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    queue = list(bodies)
    async with httpx.AsyncClient(base_url=base, timeout=120) as client:

        async def poster() -> int:
            sent = 0
            while queue:
                vehicle, body = queue.pop()
                response = await client.post(
                    f"/vehicles/{vehicle}/positions", content=body, headers=headers
                )
                if response.status_code != 200:
                    raise SystemExit(f"POST answered {response.status_code}: {response.text}")
                sent += response.json()["new"]
            return sent

        started = time.perf_counter()
        stored = sum(await asyncio.gather(*(poster() for _ in range(CONCURRENCY))))
        elapsed = time.perf_counter() - started
    expected = sum(len(batch) for _, batch in batches)
    assert stored == expected, f"stored {stored} of {expected}"
    return stored / elapsed


COPY_COLUMNS = (
    "vehicle_id",
    "recorded_at",
    "latitude",
    "longitude",
    "speed_kmh",
    "heading",
    "accuracy_m",
)


def _records(batch: list[Any], vehicle: uuid.UUID) -> list[tuple[Any, ...]]:
    return [
        (
            vehicle,
            datetime.fromisoformat(p["recorded_at"]),
            p["latitude"],
            p["longitude"],
            p["speed_kmh"],
            p["heading"],
            p["accuracy_m"],
        )
        for p in batch
    ]


def _encoded(records: list[tuple[Any, ...]]) -> bytes:
    """`records` in PostgreSQL's binary COPY format, as mextrack writes a batch."""
    return binary_copy(
        [
            CopyColumn("uuid", records[0][0].bytes),
            CopyColumn("timestamptz", unix_microseconds([r[1] for r in records])),
            *(CopyColumn(kind, np.array([r[i] for r in records])) for i, kind in KINDS),
        ],
        len(records),
    )


KINDS: tuple[tuple[int, Kind], ...] = (
    (2, "float8"),
    (3, "float8"),
    (4, "float4"),
    (5, "float4"),
    (6, "float4"),
)


async def copy_rate(url: str, batches: list[tuple[uuid.UUID, list[Any]]], encoded: bool) -> float:
    """Points per second COPYed into `positions`, CONCURRENCY batches at a time: as asyncpg
    encodes records (`copy_records_to_table`, the ceiling), or `encoded` beforehand (what
    PostgreSQL alone takes)."""
    records = [_records(batch, vehicle) for vehicle, batch in batches]
    streams = [_encoded(batch) for batch in records] if encoded else []
    connections = [await asyncpg.connect(url) for _ in range(CONCURRENCY)]
    queue = list(range(len(records)))
    try:

        async def copier(connection: asyncpg.Connection) -> None:
            while queue:
                number = queue.pop()
                if encoded:
                    await connection.copy_to_table(
                        "positions",
                        source=copy_source(streams[number]),
                        columns=COPY_COLUMNS,
                        format="binary",
                    )
                else:
                    await connection.copy_records_to_table(
                        "positions", records=records[number], columns=COPY_COLUMNS
                    )

        started = time.perf_counter()
        await asyncio.gather(*(copier(c) for c in connections))
        elapsed = time.perf_counter() - started
    finally:
        for connection in connections:
            await connection.close()
    return sum(len(r) for r in records) / elapsed


async def run(total: int, rounds: int) -> None:
    signer = minter()
    token = dispatcher_token(signer)
    with mextrack_databases() as (own, shared), serving_mextrack(own, shared, signer, 2) as base:
        # A warm-up batch per size: connections, prepared statements.
        warm = await new_vehicles(own, 2)
        await http_rate(base, token, batches_for(warm[:1], 10_000, 10_000))
        await http_rate(base, token, batches_for(warm[1:], 1_000, 1_000))

        async def baselines() -> tuple[float, float]:
            """The ceiling, and the COPY of rows encoded beforehand."""
            ceiling = await copy_rate(
                own, batches_for(await new_vehicles(own, 10), total, 10_000), encoded=False
            )
            encoded = await copy_rate(
                own, batches_for(await new_vehicles(own, 10), total, 10_000), encoded=True
            )
            return ceiling, encoded

        measured = [await baselines()]
        figures: dict[int, list[float]] = {1_000: [], 10_000: []}
        ratios: dict[int, list[float]] = {1_000: [], 10_000: []}
        to_encoded: list[float] = []
        for number in range(rounds):
            for size in figures:
                vehicles = await new_vehicles(own, 10)
                figures[size].append(
                    await http_rate(base, token, batches_for(vehicles, total, size))
                )
            measured.append(await baselines())
            ceiling = (measured[-2][0] + measured[-1][0]) / 2
            for size in figures:
                ratios[size].append(figures[size][-1] / ceiling)
            to_encoded.append(figures[10_000][-1] / ((measured[-2][1] + measured[-1][1]) / 2))
            print(
                f"round {number + 1}: ceiling {measured[-2][0]:,.0f} / {measured[-1][0]:,.0f}"
                f" points/s, encoded beforehand {measured[-2][1]:,.0f} / {measured[-1][1]:,.0f};"
                + "".join(
                    f" HTTP {size:,}-point batches {figures[size][-1]:,.0f} points/s"
                    f" (ratio {ratios[size][-1]:.2f});"
                    for size in figures
                )
            )
        print(f"\n{total:,} points per measurement, {CONCURRENCY} at a time, {rounds} rounds")
        print(
            "ceiling (asyncpg copy_records_to_table into positions, 10,000-row batches):"
            f" {statistics.median(m[0] for m in measured):,.0f} points/s"
        )
        print(
            "COPY of the same rows encoded beforehand (PostgreSQL's part alone):"
            f" {statistics.median(m[1] for m in measured):,.0f} points/s"
        )
        for size in figures:
            print(
                f"HTTP, {size:,}-point batches: {statistics.median(figures[size]):,.0f} points/s,"
                f" ratio {statistics.median(ratios[size]):.2f}"
                f" (rounds {', '.join(f'{r:.2f}' for r in ratios[size])})"
                + ("  target >= 0.5" if size == 10_000 else "")
            )
        print(
            "HTTP, 10,000-point batches against the COPY encoded beforehand:"
            f" ratio {statistics.median(to_encoded):.2f}"
            f" (rounds {', '.join(f'{r:.2f}' for r in to_encoded)})  (information)"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=100_000, help="points per measurement")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    asyncio.run(run(args.points, args.rounds))


if __name__ == "__main__":
    main()
