"""Positions through mextrack's HTTP endpoint against the ceiling: a bare COPY into the table.

    uv run python scripts/bench/mextrack_ingest.py [--points 100000] [--rounds 3]

Serves mextrack under granian (2 workers, as in production) on a scratch database and posts
JSON batches of 1,000 and of 10,000 points (4 at a time, bodies encoded before the clock
starts) with a dispatcher's token. The ceiling, measured in the same rounds: asyncpg's
`copy_records_to_table` straight into `positions` (the same partitioned table, the same
indexes), in batches of 10,000 on 4 connections at once, records built before the clock
starts. Each round runs the ceiling, then the HTTP measurements, then the ceiling again; each
measurement is set against the mean of the ceilings either side (this machine's speed drifts),
and the median over the rounds is reported. Target: >= 0.5 for batches of 10,000.

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
from _mextrack import dispatcher_token, mextrack_databases, minter, points, serving_mextrack

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
    out = []
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


async def copy_rate(url: str, batches: list[tuple[uuid.UUID, list[Any]]]) -> float:
    records = [
        [
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
        for vehicle, batch in batches
    ]
    columns = (
        "vehicle_id",
        "recorded_at",
        "latitude",
        "longitude",
        "speed_kmh",
        "heading",
        "accuracy_m",
    )
    connections = [await asyncpg.connect(url) for _ in range(CONCURRENCY)]
    queue = list(records)
    try:

        async def copier(connection: asyncpg.Connection) -> None:
            while queue:
                batch = queue.pop()
                await connection.copy_records_to_table("positions", records=batch, columns=columns)

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
        # A warm-up batch per size: connections, prepared statements, the staging table.
        warm = await new_vehicles(own, 2)
        await http_rate(base, token, batches_for(warm[:1], 10_000, 10_000))
        await http_rate(base, token, batches_for(warm[1:], 1_000, 1_000))

        async def ceiling() -> float:
            return await copy_rate(own, batches_for(await new_vehicles(own, 10), total, 10_000))

        ceilings = [await ceiling()]
        figures: dict[int, list[float]] = {1_000: [], 10_000: []}
        ratios: dict[int, list[float]] = {1_000: [], 10_000: []}
        for number in range(rounds):
            for size in figures:
                vehicles = await new_vehicles(own, 10)
                figures[size].append(
                    await http_rate(base, token, batches_for(vehicles, total, size))
                )
            ceilings.append(await ceiling())
            around = (ceilings[-2] + ceilings[-1]) / 2
            for size in figures:
                ratios[size].append(figures[size][-1] / around)
            print(
                f"round {number + 1}: ceiling {ceilings[-2]:,.0f} / {ceilings[-1]:,.0f} points/s;"
                + "".join(
                    f" HTTP {size:,}-point batches {figures[size][-1]:,.0f} points/s"
                    f" (ratio {ratios[size][-1]:.2f});"
                    for size in figures
                )
            )
        print(f"\n{total:,} points per measurement, {CONCURRENCY} at a time, {rounds} rounds")
        print(
            "ceiling (COPY into positions, 10,000-row batches):"
            f" {statistics.median(ceilings):,.0f} points/s"
        )
        for size in figures:
            print(
                f"HTTP, {size:,}-point batches: {statistics.median(figures[size]):,.0f} points/s,"
                f" ratio {statistics.median(ratios[size]):.2f}"
                f" (rounds {', '.join(f'{r:.2f}' for r in ratios[size])})"
                + ("  target >= 0.5" if size == 10_000 else "")
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=100_000, help="points per measurement")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    asyncio.run(run(args.points, args.rounds))


if __name__ == "__main__":
    main()
