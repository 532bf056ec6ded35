"""How much token verification costs an app route that does one indexed SELECT.

    uv run python scripts/bench/token_verification.py

Serves a bench app built by the kit (`create_service`, granian, 2 workers; `bench_app.py`) and
loads it with wrk: the public route is the baseline; the same route behind core's token check
(`AtrizAuth`'s middleware) must keep at least 90% of it, which the verified-token cache makes
possible. Both routes pay the kit's per-request work alike (metrics, request id and log line,
the revocation lookup on the protected one). Two more figures for information: the same route
with a `requires_role` guard as well (Litestar 2 copies the route handler for every guard
call), and with the cache off, and the public route of the same app wired by hand without the kit
(`bench_app:create_bare_app`, the wiring these figures were first taken with): what the kit's
per-request work (metrics, request id and log line) costs every route. Beside each figure, the
server's CPU time per request (all its processes, from /proc), which the machine's drift
disturbs less than the rate.

The app trusts the bench's own signing key (tokens signed as core signs them); it has a
database of its own, and core's migrated database as `atriz_shared`.
`BENCH_APP_ENV='{"BENCH_ACCESS_LOG": "0"}'` passes bench switches (`bench_toggles`) to the app.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
from functools import partial

from _support import (
    bench_app_env,
    bench_minter,
    bench_token,
    compare_in_rounds,
    core_database,
    report,
    report_compared,
    scratch_database,
    serve,
    wrk,
    wrk_load,
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
    extra = json.loads(os.environ.get("BENCH_APP_ENV", "{}"))
    cpu: dict[str, list[float]] = {}

    def load(name: str, url: str, server: str, token: str | None = None) -> float:
        measured = wrk_load(url, seconds=SECONDS, token=token, server=server)
        if measured.cpu_us is not None:
            cpu.setdefault(name, []).append(measured.cpu_us)
        return measured.per_second

    with core_database() as shared, scratch_database("app") as url:
        asyncio.run(make_items(url))
        minter = bench_minter()
        token = bench_token(minter)
        app_env = {**bench_app_env(url, minter, shared), **extra}
        no_cache = {**app_env, "BENCH_TOKEN_CACHE_SIZE": "0"}
        with (
            serve("bench_app:create_app", workers=2, env=app_env) as app,
            serve("bench_app:create_app", workers=2, env=no_cache) as uncached_app,
            serve("bench_app:create_bare_app", workers=2, env=app_env) as bare_app,
        ):
            wrk(f"{app}/open/1", seconds=2)  # warm up
            wrk(f"{app}/items/1", seconds=2, token=token)
            wrk(f"{uncached_app}/items/1", seconds=2, token=token)
            wrk(f"{bare_app}/open/1", seconds=2)
            compared = compare_in_rounds(
                partial(load, "open", f"{app}/open/1", app),
                {
                    "cached": partial(load, "cached", f"{app}/items/1", app, token),
                    "guard": partial(load, "guard", f"{app}/role-items/1", app, token),
                    "uncached": partial(
                        load, "uncached", f"{uncached_app}/items/1", uncached_app, token
                    ),
                    "bare": partial(load, "bare", f"{bare_app}/open/1", bare_app),
                },
                ROUNDS,
            )
    print(
        f"wrk -t2 -c64, {ROUNDS} rounds of {SECONDS} s each, the open route before and after"
        " each round; medians; each app on granian with 2 workers; everything, wrk included,"
        " on the same 2 cores; apps built by the kit (create_service) unless said"
        + (f"; switches {extra}" if extra else "")
    )
    some = compared["cached"]
    report("open route, one indexed SELECT", some.baseline, some.baseline, "req/s", "baseline")
    lines = {
        "cached": ("same route, token verified (cached)", ">= 0.90"),
        "guard": ("same, plus a requires_role guard", "information"),
        "uncached": ("same route, token verified every request", "~0.6, FACTS.md"),
        "bare": ("open route, app wired by hand (no kit)", "information"),
    }
    for name, (title, target) in lines.items():
        report_compared(title, compared[name], "req/s", target)
    print("server CPU per request, medians (µs):")
    for name, title in [("open", "open route"), *((n, t) for n, (t, _) in lines.items())]:
        print(f"  {title:<46} {statistics.median(cpu[name]):>6.0f}"
              f"  ({min(cpu[name]):.0f}-{max(cpu[name]):.0f})")  # fmt: skip


if __name__ == "__main__":
    main()
