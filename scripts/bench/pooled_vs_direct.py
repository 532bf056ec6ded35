"""Authenticated reads and sales, straight to PostgreSQL and through PgBouncer, side by side.

    uv run python scripts/bench/pooled_vs_direct.py [--seconds 5] [--rounds 3]
        [--sales 1500] [--concurrency 32]

PgBouncer (the system's, 1.18 on Debian 12; transaction mode, at most 20 server connections per
database and login) runs in front of the benchmarks' PostgreSQL (`ATRIZ_TEST_DATABASE_URL`'s,
`PG*`, else the embedded one). Each workload is served by three servers at once, the same app
over the same databases (granian, 2 workers, pools of 8 per worker): straight; straight in
pooled mode (below); and through PgBouncer with `ATRIZ_DB_POOLER=transaction` (no statement
cache, the timeouts as the login's defaults, `LISTEN` on a direct URL). They are loaded in
turn, direct first and last, and each other figure is set against the mean of the direct ones
just before and after it (these machines drift); the median ratio of the rounds is reported,
with each round's.

- **authenticated reads**: `GET /items/{id}` of `bench_app`, the kit's app: an EdDSA token
  checked, one SELECT by primary key; `wrk -t2 -c64`.
- **sales**: PShop's `POST /sales`, one line of one unit with its own `Idempotency-Key`, spread
  over 200 products (uncontended), from `--concurrency` clients (`pshop_sales`' client).

A third server, "direct, pooled mode", runs straight to PostgreSQL with `ATRIZ_DB_POOLER` set
all the same: no statement cache, so every statement is parsed and described again, in a round
trip of its own before it runs. It tells what the cache's absence costs from what the hop
through PgBouncer costs. Beside each rate, the CPU per request of the app's processes and of
PgBouncer. The load generator, PgBouncer and PostgreSQL share the machine's cores with the app.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import tempfile
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

from _support import (
    bench_app_env,
    bench_minter,
    bench_token,
    compare_in_rounds,
    core_database,
    report_compared,
    scratch_database,
    serve,
    server_cpu_seconds,
    server_url,
    wrk_load,
)
from pshop_sales import CASHIER, ISSUER, Connections, drive, http_seller, make_products
from token_verification import make_items

from atriz_core.testing.tokens import TokenMinter
from atriz_database.migrations import migrate
from atriz_database.pgbouncer import PgBouncer
from atriz_pshop.db import target as pshop_target

POOL_MAX = "8"
POOLED = "through PgBouncer"
UNCACHED = "direct, pooled mode"


def process_cpu_seconds(pid: int) -> float:
    """CPU time (user and system) used so far by one process, from /proc."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def through(bouncer: PgBouncer, env: dict[str, str], pooled: tuple[str, ...]) -> dict[str, str]:
    """`env` with the URLs named in `pooled` through PgBouncer, marked as such."""
    return {
        **env,
        **{name: bouncer.url(env[name]) for name in pooled},
        "ATRIZ_DB_POOLER": "transaction",
    }


def without_statement_cache(env: dict[str, str]) -> dict[str, str]:
    """`env` straight to PostgreSQL but in pooled mode: the statement cache off (and the
    timeouts as role defaults), to tell its cost from the hop through PgBouncer."""
    return {**env, "ATRIZ_DB_POOLER": "transaction"}


class CpuLedger:
    """CPU per request of each server and of PgBouncer, per variant, over the measurements."""

    def __init__(self, bouncer: PgBouncer) -> None:
        self.bouncer = bouncer
        self.server: dict[str, list[float]] = {}
        self.pooler: dict[str, list[float]] = {}

    @contextmanager
    def measuring(self, name: str, base: str, requests: Callable[[], int]) -> Iterator[None]:
        server, pooler = server_cpu_seconds(base), process_cpu_seconds(self.bouncer.process.pid)
        yield
        count = requests()
        server = server_cpu_seconds(base) - server
        pooler = process_cpu_seconds(self.bouncer.process.pid) - pooler
        self.server.setdefault(name, []).append(server / count * 1e6)
        self.pooler.setdefault(name, []).append(pooler / count * 1e6)

    def report(self, unit: str) -> None:
        for name in self.server:
            print(f"{'':<48} {name}: CPU per {unit}: app"
                  f" {statistics.median(self.server[name]):6.0f} µs, PgBouncer"
                  f" {statistics.median(self.pooler[name]):5.0f} µs")  # fmt: skip


def reads(args: argparse.Namespace, bouncer: PgBouncer, shared: str) -> None:
    with scratch_database("app") as url, ExitStack() as servers:
        asyncio.run(make_items(url))
        minter = bench_minter()
        token = bench_token(minter)
        env = {
            **bench_app_env(url, minter, shared),
            "BENCH_SHARED_DIRECT_URL": shared,
            "ATRIZ_DB_POOL_MAX": POOL_MAX,
        }
        pooled_env = through(bouncer, env, ("BENCH_DATABASE_URL", "BENCH_SHARED_DATABASE_URL"))
        direct = servers.enter_context(serve("bench_app:create_app", workers=2, env=env))
        uncached = servers.enter_context(
            serve("bench_app:create_app", workers=2, env=without_statement_cache(env))
        )
        pooled = servers.enter_context(serve("bench_app:create_app", workers=2, env=pooled_env))
        cpu = CpuLedger(bouncer)

        def load(name: str, base: str) -> float:
            done = [0]
            with cpu.measuring(name, base, lambda: done[0]):
                measured = wrk_load(f"{base}/items/1", seconds=args.seconds, token=token)
                done[0] = measured.requests
            return measured.per_second

        for base in (direct, uncached, pooled):
            load("warm-up", base)
        del cpu.server["warm-up"], cpu.pooler["warm-up"]
        compared = compare_in_rounds(
            lambda: load("direct", direct),
            {
                UNCACHED: lambda: load(UNCACHED, uncached),
                POOLED: lambda: load(POOLED, pooled),
            },
            args.rounds,
        )
        print("\nauthenticated reads (GET /items/{id}: token check + one SELECT), wrk -t2 -c64:")
        for name, result in compared.items():
            report_compared(f"  {name} / direct", result, "req/s", "information")
        cpu.report("read")


def sales(args: argparse.Namespace, bouncer: PgBouncer, shared: str) -> None:
    minter = TokenMinter(ISSUER, ("pshop",))
    token = minter.access_token(
        user_id=CASHIER, email="bench@pshop.test", roles=("pshop.cashier",), lifetime_seconds=3600
    )
    with scratch_database("pshop") as url, ExitStack() as servers:
        migrate(pshop_target, url, requirement_met=lambda _: True, out=lambda _: None)
        env = {
            "ATRIZ_ENV": "test",
            "PSHOP_DATABASE_URL": url,
            "PSHOP_SHARED_DATABASE_URL": shared,
            "PSHOP_SHARED_DIRECT_URL": shared,
            "PSHOP_BENCH_JWKS": json.dumps(minter.jwks),
            "ATRIZ_DB_POOL_MAX": POOL_MAX,
        }
        pooled_env = through(bouncer, env, ("PSHOP_DATABASE_URL", "PSHOP_SHARED_DATABASE_URL"))
        direct = servers.enter_context(serve("pshop_sales:bench_app", workers=2, env=env))
        uncached = servers.enter_context(
            serve("pshop_sales:bench_app", workers=2, env=without_statement_cache(env))
        )
        pooled = servers.enter_context(serve("pshop_sales:bench_app", workers=2, env=pooled_env))
        loop = asyncio.new_event_loop()
        products = loop.run_until_complete(make_products(url, 200, 10**7))
        bases = (direct, uncached, pooled)
        clients = {base: Connections(base, args.concurrency) for base in bases}
        for client in clients.values():
            loop.run_until_complete(client.open())
        cpu = CpuLedger(bouncer)
        bad: dict[int, int] = {}

        def load(name: str, base: str, count: int) -> float:
            seller = http_seller(clients[base], token, lambda n: products[n % len(products)])
            with cpu.measuring(name, base, lambda: count):
                run = loop.run_until_complete(drive(count, args.concurrency, seller))
            for status, times in run.statuses.items():
                if status != 201:
                    bad[status] = bad.get(status, 0) + times
            return run.rate

        try:
            for base in bases:
                load("warm-up", base, 200)
            del cpu.server["warm-up"], cpu.pooler["warm-up"]
            compared = compare_in_rounds(
                lambda: load("direct", direct, args.sales),
                {
                    UNCACHED: lambda: load(UNCACHED, uncached, args.sales),
                    POOLED: lambda: load(POOLED, pooled, args.sales),
                },
                args.rounds,
            )
        finally:
            for client in clients.values():
                loop.run_until_complete(client.close())
            loop.close()
        print(f"\nsales (POST /sales, one unit, uncontended), {args.concurrency} clients:")
        for name, result in compared.items():
            report_compared(f"  {name} / direct", result, "sales/s", "information")
        cpu.report("sale")
        if bad:
            print(f"  responses other than 201: {bad}")
        database = url.rsplit("/", 1)[1]
        held = bouncer.server_connections(database)
        print(f"  PgBouncer held {held} server connections to {database} for the pooled app's"
              f" 2 workers x {POOL_MAX} client connections")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=5, help="wrk's run per measurement")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--sales", type=int, default=1500, help="sales per measurement")
    parser.add_argument("--concurrency", type=int, default=32)
    args = parser.parse_args()
    with (
        tempfile.TemporaryDirectory() as scratch,
        PgBouncer.running(
            Path(scratch) / f"pgbouncer-{uuid.uuid4().hex[:6]}", server_url()
        ) as bouncer,
        core_database() as shared,
    ):
        print(
            f"{args.rounds} rounds, direct before and after each pooled run; apps on granian"
            f" with 2 workers and pools of {POOL_MAX}; PgBouncer 20 server connections per"
            " database; everything on the same cores"
        )
        reads(args, bouncer, shared)
        sales(args, bouncer, shared)


if __name__ == "__main__":
    main()
