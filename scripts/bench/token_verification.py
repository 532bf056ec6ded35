"""How much token verification costs an app route that does one indexed SELECT.

    uv run python scripts/bench/token_verification.py

Serves core (for JWKS and a real token) and a bench app (granian, 2 workers) and loads the app
with wrk: the public route is the baseline; the same route behind core's token check
(`AtrizAuth`'s middleware) must keep at least 90% of it, which the verified-token cache makes
possible. Two more figures for information: the same route with a `requires_role` guard as
well (Litestar 2 copies the route handler for every guard call), and with the cache off.
"""

from __future__ import annotations

import asyncio
import os

import httpx
from _support import (
    access_token,
    bench_app_env,
    compare_in_rounds,
    core_database,
    report,
    report_compared,
    serve,
    wrk,
)

from atriz_database.pool import connect

SECONDS = int(os.environ.get("BENCH_SECONDS", "4"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "7"))
PASSWORD = "bench passphrase that is long"  # noqa: S105 - a throwaway bench user


async def make_items(url: str) -> None:
    connection = await connect(url)
    try:
        await connection.execute("CREATE TABLE bench_items (id int PRIMARY KEY, name text)")
        await connection.execute(
            "INSERT INTO bench_items SELECT n, 'item ' || n FROM generate_series(1, 1000) n"
        )
    finally:
        await connection.close()


def main() -> None:
    with core_database() as url:
        asyncio.run(make_items(url))
        core_env = {
            "SHARED_DATABASE_URL": url,
            "ATRIZ_ENV": "test",
            "CORE_PUBLIC_URL": "http://core.bench",
        }
        with serve("atriz_core.app:create_app_from_env", workers=1, env=core_env) as core:
            httpx.post(
                f"{core}/auth/register",
                json={"email": "b@bench.test", "password": PASSWORD, "name": "B"},
            )
            token = access_token(core, "b@bench.test", PASSWORD)
            app_env = bench_app_env(url, core)
            no_cache = {**app_env, "BENCH_TOKEN_CACHE_SIZE": "0"}
            with (
                serve("bench_app:create_app", workers=2, env=app_env) as app,
                serve("bench_app:create_app", workers=2, env=no_cache) as uncached_app,
            ):
                wrk(f"{app}/open/1", seconds=2)  # warm up
                wrk(f"{uncached_app}/items/1", seconds=2, token=token)
                compared = compare_in_rounds(
                    lambda: wrk(f"{app}/open/1", seconds=SECONDS),
                    {
                        "cached": lambda: wrk(f"{app}/items/1", seconds=SECONDS, token=token),
                        "guard": lambda: wrk(f"{app}/role-items/1", seconds=SECONDS, token=token),
                        "uncached": lambda: wrk(
                            f"{uncached_app}/items/1", seconds=SECONDS, token=token
                        ),
                    },
                    ROUNDS,
                )
    cached, guard, uncached = compared["cached"], compared["guard"], compared["uncached"]
    print(
        f"wrk -t2 -c64, {ROUNDS} rounds of {SECONDS} s each, the open route before and after"
        " each round; medians; each app on granian with 2 workers; everything, wrk included,"
        " on the same 2 cores"
    )
    report("open route, one indexed SELECT", cached.baseline, cached.baseline, "req/s", "baseline")
    report_compared("same route, token verified (cached)", cached, "req/s", ">= 0.90")
    report_compared("same, plus a requires_role guard", guard, "req/s", "information")
    report_compared("same route, token verified every request", uncached, "req/s", "~0.6, FACTS.md")


if __name__ == "__main__":
    main()
