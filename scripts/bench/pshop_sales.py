"""PShop's sales throughput over HTTP against the same SQL on bare asyncpg, and oversells.

    uv run python scripts/bench/pshop_sales.py [--products 200] [--sales 1500]
        [--concurrency 32] [--rounds 3] [--oversell-stock 200]

Serves PShop as built by `create_app` (granian, 2 workers, each with a pool of 10) with a
scratch `pshop_db` and `atriz_shared`, and rings up one-line, one-unit sales, each with its own
`Idempotency-Key`, from `--concurrency` concurrent clients (httpx, in this process):

- **uncontended**: each sale of another product among `--products` (round robin);
- **contended**: every sale of one product (its row lock serialises them).

The baseline is the same work without HTTP: this process runs the app's own sale code
(`idempotent` + `record_sale`, the same statements in the same transaction) on a bare asyncpg
pool of 20 connections with the same concurrency. Each HTTP measurement is set against the
mean of the baselines taken just before and after it (this machine's speed drifts), and the
median ratio of the rounds is reported (target >= 0.5 uncontended). Then `--oversell-stock`
units of one product meet three times as many concurrent one-unit sales: exactly that many
must succeed, on-hand must end at 0 and equal the ledger's sum; anything else is an oversell.
The load generator shares the machine's cores with the server and PostgreSQL.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import asyncpg
from _support import core_database, scratch_database, serve, server_cpu_seconds
from litestar import Litestar

from atriz_core.client.verifier import StaticKeys, TokenVerifier
from atriz_core.testing.tokens import TokenMinter
from atriz_database.migrations import migrate
from atriz_database.pool import create_pool
from atriz_database.settings import DatabaseSettings
from atriz_pshop.app import create_app
from atriz_pshop.db import target
from atriz_pshop.idempotency import idempotent
from atriz_pshop.sales import services
from atriz_pshop.sales.schemas import Sale, SaleCreate, SaleLineIn
from atriz_pshop.settings import PshopSettings

ISSUER = "http://core.bench"
CASHIER = uuid.UUID("5eed0000-0000-4000-8000-000000000002")


def bench_app() -> Litestar:
    """PShop trusting the bench's key (granian factory `pshop_sales:bench_app`)."""
    verifier = TokenVerifier(
        StaticKeys(json.loads(os.environ["PSHOP_BENCH_JWKS"])), issuer=ISSUER, audience="pshop"
    )
    return create_app(PshopSettings.from_env(), verifier=verifier)


async def make_products(url: str, count: int, stock: int) -> list[uuid.UUID]:
    """`count` products with `stock` each, opening stock in the ledger."""
    connection = await asyncpg.connect(url)
    try:
        ids: list[uuid.UUID] = [
            row["id"]
            for row in await connection.fetch(
                "INSERT INTO products (sku, name, price_minor, currency)"
                " SELECT 'B-' || n || '-' || $2, 'Bench product ' || n, 100 + n, 'EUR'"
                " FROM generate_series(1, $1) n RETURNING id",
                count,
                uuid.uuid4().hex[:8],
            )
        ]
        await connection.execute(
            "INSERT INTO inventory (product_id, on_hand) SELECT unnest($1::uuid[]), $2", ids, stock
        )
        await connection.execute(
            "INSERT INTO stock_movements (product_id, quantity, reason, user_id, note)"
            " SELECT unnest($1::uuid[]), $2, 'restock', $3, 'bench'",
            ids,
            stock,
            CASHIER,
        )
        return sorted(ids)
    finally:
        await connection.close()


@dataclass
class Run:
    rate: float
    p50_ms: float
    p99_ms: float
    statuses: dict[int, int]
    client_cpu_us: float
    """This process's CPU time per sale (the load generator, or the bare asyncpg sales)."""
    server_cpu_us: float = 0.0
    """The HTTP server's CPU time per sale, all its processes."""


async def drive(
    count: int,
    concurrency: int,
    sell: Callable[[int], Awaitable[int]],
    server: str | None = None,
) -> Run:
    """`count` sales from `concurrency` workers; rate, latency percentiles, statuses, CPU."""
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    next_sale = iter(range(count))

    async def worker() -> None:
        for number in next_sale:
            started = time.perf_counter()
            status = await sell(number)
            latencies.append(time.perf_counter() - started)
            statuses[status] = statuses.get(status, 0) + 1

    server_before = server_cpu_seconds(server) if server else 0.0
    cpu_before = time.process_time()
    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    client_cpu = time.process_time() - cpu_before
    server_cpu = server_cpu_seconds(server) - server_before if server else 0.0
    ordered = sorted(latencies)
    return Run(
        rate=count / elapsed,
        p50_ms=ordered[len(ordered) // 2] * 1000,
        p99_ms=ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000,
        statuses=statuses,
        client_cpu_us=client_cpu / count * 1e6,
        server_cpu_us=server_cpu / count * 1e6,
    )


class Connections:
    """Keep-alive HTTP/1.1 connections to the server, one per concurrent client.

    A minimal client on asyncio streams (a request's bytes out, the status line, the headers
    and a Content-Length body in): httpx spends about 5 ms of CPU on a request here, which on
    these shared cores would measure the load generator rather than the server.
    """

    def __init__(self, base: str, count: int) -> None:
        host, port = base.removeprefix("http://").split(":")
        self.host, self.port, self.count = host, int(port), count
        self.idle: asyncio.Queue[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = (
            asyncio.Queue()
        )

    async def open(self) -> None:
        for _ in range(self.count):
            self.idle.put_nowait(await asyncio.open_connection(self.host, self.port))

    async def close(self) -> None:
        while not self.idle.empty():
            _, writer = self.idle.get_nowait()
            writer.close()

    async def post(self, path: str, body: bytes, headers: dict[str, str]) -> int:
        reader, writer = await self.idle.get()
        head = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
        writer.write(
            f"POST {path} HTTP/1.1\r\nHost: {self.host}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n{head}\r\n".encode()
            + body
        )
        status_line = await reader.readline()
        length = 0
        while (line := await reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        await reader.readexactly(length)
        self.idle.put_nowait((reader, writer))
        return int(status_line.split()[1])


def http_seller(
    connections: Connections, token: str, pick: Callable[[int], uuid.UUID]
) -> Callable[[int], Awaitable[int]]:
    async def sell(number: int) -> int:
        body = json.dumps({"lines": [{"product_id": str(pick(number)), "quantity": 1}]})
        return await connections.post(
            "/sales",
            body.encode(),
            {"Authorization": f"Bearer {token}", "Idempotency-Key": uuid.uuid4().hex},
        )

    return sell


def sql_seller(
    pool: asyncpg.Pool, shared: asyncpg.Pool, pick: Callable[[int], uuid.UUID]
) -> Callable[[int], Awaitable[int]]:
    """The app's sale, statement for statement, on a bare pool: no HTTP, no Litestar."""

    async def sell(number: int) -> int:
        data = SaleCreate(lines=[SaleLineIn(product_id=pick(number), quantity=1)])
        async with pool.acquire() as conn, conn.transaction():

            async def effect() -> Sale:
                await services.limit_lock_waits(conn, 5.0)
                return await services.record_sale(
                    conn, shared, cashier_id=CASHIER, data=data, timezone="UTC"
                )

            await services.hold_sale_users(conn, shared, user_id=CASHIER, data=data)
            response = await idempotent(
                conn,
                user_id=CASHIER,
                route="/sales",
                key=uuid.uuid4().hex,
                body=data,
                response_type=Sale,
                status_code=201,
                hours=24,
                effect=effect,
            )
        assert response.status_code is not None  # idempotent() always sets it
        return response.status_code

    return sell


def percent(run: Run) -> str:
    cpu = f"CPU/sale: this process {run.client_cpu_us:5.0f} us"
    if run.server_cpu_us:
        cpu += f", server {run.server_cpu_us:5.0f} us"
    return f"{run.rate:8.1f} sales/s  p50 {run.p50_ms:6.1f} ms  p99 {run.p99_ms:7.1f} ms  ({cpu})"


async def measure(
    args: argparse.Namespace, base: str, url: str, shared_url: str, token: str
) -> None:
    products = await make_products(url, args.products, 10**7)
    (hot,) = await make_products(url, 1, 10**7)
    spread: Callable[[int], uuid.UUID] = lambda n: products[n % len(products)]  # noqa: E731
    single: Callable[[int], uuid.UUID] = lambda n: hot  # noqa: E731
    pool = await create_pool(url, DatabaseSettings(pool_min_size=20, pool_max_size=20))
    shared = await create_pool(shared_url, DatabaseSettings(pool_min_size=20, pool_max_size=20))
    client = Connections(base, max(args.concurrency, 64))
    await client.open()
    try:
        await drive(200, args.concurrency, http_seller(client, token, spread))  # warm up
        await drive(200, args.concurrency, sql_seller(pool, shared, spread))
        for name, pick in (("uncontended", spread), ("contended", single)):
            baselines = [await drive(args.sales, args.concurrency, sql_seller(pool, shared, pick))]
            https: list[Run] = []
            ratios: list[float] = []
            for _ in range(args.rounds):
                seller = http_seller(client, token, pick)
                https.append(await drive(args.sales, args.concurrency, seller, base))
                bare = sql_seller(pool, shared, pick)
                baselines.append(await drive(args.sales, args.concurrency, bare))
                ratios.append(https[-1].rate / ((baselines[-2].rate + baselines[-1].rate) / 2))
            bad = {s: n for run in https + baselines for s, n in run.statuses.items() if s != 201}
            median_http = sorted(https, key=lambda r: r.rate)[len(https) // 2]
            median_sql = sorted(baselines, key=lambda r: r.rate)[len(baselines) // 2]
            target_text = ">= 0.5" if name == "uncontended" else "information"
            print(f"{name}:")
            print(f"  HTTP (granian, 2 workers)   {percent(median_http)}")
            print(f"  bare asyncpg, same SQL      {percent(median_sql)}")
            print(f"  ratio {statistics.median(ratios):.2f} (target {target_text});"
                  f" rounds {' '.join(f'{r:.2f}' for r in ratios)}"
                  + (f"; non-201: {bad}" if bad else ""))  # fmt: skip

        # Oversells: a product with exactly `stock` units meets three times as many buyers.
        stock = args.oversell_stock
        (scarce,) = await make_products(url, 1, stock)
        run = await drive(
            3 * stock, max(args.concurrency, 64), http_seller(client, token, lambda n: scarce)
        )
    finally:
        await client.close()
    on_hand = await pool.fetchval("SELECT on_hand FROM inventory WHERE product_id = $1", scarce)
    ledger = await pool.fetchval(
        "SELECT sum(quantity) FROM stock_movements WHERE product_id = $1", scarce
    )
    drift = await pool.fetchval(
        "SELECT count(*) FROM inventory i JOIN (SELECT product_id, sum(quantity) AS s"
        " FROM stock_movements GROUP BY product_id) m USING (product_id) WHERE i.on_hand <> m.s"
    )
    await pool.close()
    await shared.close()
    sold = run.statuses.get(201, 0)
    oversells = max(0, sold - stock) + max(0, -on_hand) + abs(on_hand - ledger)
    print(
        f"oversell check: {3 * stock} concurrent one-unit sales of {stock} in stock:"
        f" {sold} sold, statuses {dict(sorted(run.statuses.items()))}, on-hand {on_hand},"
        f" ledger {ledger}, products drifting {drift}: oversells {oversells} (must be 0)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--products", type=int, default=200)
    parser.add_argument("--sales", type=int, default=1500, help="sales per measurement")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--oversell-stock", type=int, default=200)
    args = parser.parse_args()
    minter = TokenMinter(ISSUER, ("pshop",))
    token = minter.access_token(
        user_id=CASHIER, email="bench@pshop.test", roles=("pshop.cashier",), lifetime_seconds=3600
    )
    with core_database() as shared, scratch_database("pshop") as url:
        migrate(target, url, requirement_met=lambda _: True, out=lambda _: None)
        env = {
            "ATRIZ_ENV": "test",
            "PSHOP_DATABASE_URL": url,
            "PSHOP_SHARED_DATABASE_URL": shared,
            "PSHOP_BENCH_JWKS": json.dumps(minter.jwks),
            "ATRIZ_DB_POOL_MAX": "10",
        }
        with serve("pshop_sales:bench_app", workers=2, env=env) as base:
            print(
                f"{args.sales} one-unit sales per measurement, {args.concurrency} concurrent"
                f" clients, {args.rounds} rounds (bare asyncpg before and after each),"
                f" {args.products} products uncontended; PShop on granian with 2 workers;"
                " everything on the same cores"
            )
            asyncio.run(measure(args, base, url, shared, token))


if __name__ == "__main__":
    main()
