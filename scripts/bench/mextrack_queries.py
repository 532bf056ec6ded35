"""Mextrack's reads over a large history: where everyone is, a one-hour track page, a day's stats.

    uv run python scripts/bench/mextrack_queries.py [--points 10000000] [--requests 200]

Loads `--points` positions over 1,000 vehicles straight in SQL (a fix every 8.64 s, so that
10 million points are one day of each vehicle's driving; fewer points, a shorter day), with
their latest positions, and serves mextrack under granian (2 workers). Then, one request at a
time with a dispatcher's token, p50 and p95 of:

- `GET /positions/latest?limit=1000`: all 1,000 vehicles (target p50 < 20 ms);
- `GET /vehicles/{id}/positions?from=&to=` over one hour, a page of 200 (target < 10 ms);
- `GET /vehicles/{id}/track.geojson` over the same hour (information);
- `GET /vehicles/{id}/stats?from=&to=` over one day (target < 50 ms);

each with the query plan of its statement (EXPLAIN ANALYZE: which index), and the table's size
on disk per million points (partitions with their indexes).
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import time
from datetime import UTC, datetime, timedelta

import asyncpg
import httpx
from _mextrack import dispatcher_token, mextrack_databases, minter, serving_mextrack

from atriz_mextrack.positions import repository

VEHICLES = 1000
STEP_SECONDS = 8.64


async def load(url: str, total: int, end: datetime) -> datetime:
    """Vehicles, their positions (one partition per day, made first) and latest positions;
    the time of the first fix."""
    per_vehicle = total // VEHICLES
    start = end - timedelta(seconds=STEP_SECONDS * per_vehicle)
    connection = await asyncpg.connect(url)
    try:
        await connection.execute(
            "INSERT INTO vehicles (owner_id, name, plate)"
            " SELECT gen_random_uuid(), 'Vehicle ' || n, 'Q-' || n FROM generate_series(1, $1) n",
            VEHICLES,
        )
        day = start.date()
        while day <= end.date():
            await connection.execute("SELECT ensure_positions_partition($1)", day)
            day += timedelta(days=1)
        ids = [row["id"] for row in await connection.fetch("SELECT id FROM vehicles ORDER BY id")]
        started = time.perf_counter()
        for chunk in range(0, VEHICLES, 50):
            await connection.execute(
                """
                INSERT INTO positions (vehicle_id, recorded_at, latitude, longitude, speed_kmh,
                                       heading, accuracy_m, quality)
                SELECT v.id, $2::timestamptz + k * make_interval(secs => $3),
                       19.0 + v.n * 0.001 + 0.002 * sin(k / 50.0),
                       -99.5 + 0.0001 * k,
                       36 + 10 * sin(k / 30.0), 90, 5,
                       CASE WHEN k % 997 = 500 THEN 'jump' ELSE 'ok' END
                FROM unnest($1::uuid[]) WITH ORDINALITY AS v (id, n)
                CROSS JOIN generate_series(0, $4 - 1) AS k
                """,
                ids[chunk : chunk + 50],
                start,
                STEP_SECONDS,
                per_vehicle,
            )
        print(
            f"  loaded {VEHICLES * per_vehicle:,} points in {time.perf_counter() - started:.0f} s"
        )
        await connection.execute(
            """
            INSERT INTO latest_positions (vehicle_id, recorded_at, latitude, longitude,
                                          speed_kmh, heading, altitude_m, accuracy_m,
                                          received_at)
            SELECT DISTINCT ON (vehicle_id) vehicle_id, recorded_at, latitude, longitude,
                   speed_kmh, heading, altitude_m, accuracy_m, received_at
            FROM positions WHERE quality = 'ok' ORDER BY vehicle_id, recorded_at DESC
            """
        )
        await connection.execute("VACUUM ANALYZE")
    finally:
        await connection.close()
    return start


async def timings(client: httpx.AsyncClient, paths: list[str], token: str) -> list[float]:
    headers = {"Authorization": f"Bearer {token}"}
    out = []
    for path in paths:
        started = time.perf_counter()
        response = await client.get(path, headers=headers)
        out.append((time.perf_counter() - started) * 1000)
        if response.status_code != 200:
            raise SystemExit(f"GET {path}: {response.status_code} {response.text[:300]}")
    return out


async def plan(url: str, sql: str, *args: object) -> list[str]:
    connection = await asyncpg.connect(url)
    try:
        rows = await connection.fetch(f"EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) {sql}", *args)
    finally:
        await connection.close()
    return [row[0] for row in rows]


def summary(lines: list[str]) -> str:
    """The plan's scans (which index) and its execution time."""
    keep = [
        line.strip()
        for line in lines
        if "Scan" in line or "Execution Time" in line or "Subplans Removed" in line
    ]
    if len(keep) > 9:
        keep = [*keep[:8], "...", keep[-1]]
    return "\n      ".join(keep)


async def run(total: int, requests: int) -> None:
    signer = minter()
    token = dispatcher_token(signer)
    end = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=1)
    with mextrack_databases() as (own, shared):
        print(f"loading {total:,} points over {VEHICLES:,} vehicles ...")
        start = await load(own, total, end)
        connection = await asyncpg.connect(own)
        try:
            size = int(
                await connection.fetchval(
                    "SELECT sum(pg_total_relation_size(inhrelid)) FROM pg_inherits"
                    " WHERE inhparent = 'positions'::regclass"
                )
            )
            count = await connection.fetchval("SELECT count(*) FROM positions")
            ids = [r["id"] for r in await connection.fetch("SELECT id FROM vehicles")]
        finally:
            await connection.close()
        span = end - start
        hour_from = start + span / 2
        hour_to = hour_from + timedelta(hours=1)
        day_from, day_to = end - timedelta(days=1), end
        pick = random.Random(7)  # noqa: S311 - which vehicles to ask about
        vehicles = [pick.choice(ids) for _ in range(requests)]
        window = f"from={hour_from.isoformat()}&to={hour_to.isoformat()}".replace("+", "%2B")
        day = f"from={day_from.isoformat()}&to={day_to.isoformat()}".replace("+", "%2B")
        cases = {
            "GET /positions/latest?limit=1000 (all 1,000 vehicles)": (
                ["/positions/latest?limit=1000"] * requests,
                "< 20 ms",
            ),
            "GET /vehicles/{id}/positions, one hour, a page of 200": (
                [f"/vehicles/{v}/positions?{window}&limit=200" for v in vehicles],
                "< 10 ms",
            ),
            "GET /vehicles/{id}/track.geojson, one hour": (
                [f"/vehicles/{v}/track.geojson?{window}" for v in vehicles],
                "(information)",
            ),
            "GET /vehicles/{id}/stats, one day": (
                [f"/vehicles/{v}/stats?{day}" for v in vehicles],
                "< 50 ms",
            ),
        }
        with serving_mextrack(own, shared, signer, 2) as base:
            async with httpx.AsyncClient(base_url=base, timeout=60) as client:
                for paths, _ in cases.values():  # warm-up
                    await timings(client, paths[:20], token)
                results = {
                    name: await timings(client, paths, token) for name, (paths, _) in cases.items()
                }
        vehicle = ids[0]
        plans = {
            "latest": await plan(own, repository._LATEST_QUERIES[(False, False)], 1001),
            "one-hour page": await plan(
                own, repository._PAGE_FIRST, vehicle, hour_from, hour_to, False, 201
            ),
            "one-day stats": await plan(own, repository._STATS, vehicle, day_from, day_to),
        }
    print(
        f"\n{count:,} points over {VEHICLES:,} vehicles ({total / VEHICLES:,.0f} each, a fix"
        f" every {STEP_SECONDS} s: {span.total_seconds() / 3600:.1f} h); {requests} requests"
        " each, one at a time, granian 2 workers"
    )
    for name, figures in results.items():
        ordered = sorted(figures)
        p95 = ordered[int(len(ordered) * 0.95) - 1]
        print(
            f"{name}: p50 {statistics.median(figures):.1f} ms, p95 {p95:.1f} ms"
            f"  target {cases[name][1]}"
        )
    print(
        f"\npositions on disk (partitions and indexes): {size / 1e6:,.0f} MB,"
        f" {size / 1e6 / (count / 1e6):,.0f} MB per million points"
    )
    for name, lines in plans.items():
        print(f"\nplan, {name}:\n      {summary(lines)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=10_000_000)
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args()
    asyncio.run(run(args.points, args.requests))


if __name__ == "__main__":
    main()
