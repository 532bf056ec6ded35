"""Logins per second against the argon2 ceiling, and an app's latency during a login storm.

    uv run python scripts/bench/login_throughput.py

1. The ceiling: argon2id verifications per second with core's configured parameters, on every
   core at once (argon2-cffi releases the GIL, so threads use all cores), in this process.
2. A login storm against core (granian, 2 workers) from 8 and from 64 connections: successful
   logins per second. A login is one verification plus some SQL and a signature, so the ratio to
   the ceiling shows the overhead (target >= 0.85 at both). At 64 connections the logins queue
   for the hashing threads: their p99 must stay within the queue's bound
   (`CORE_HASH_QUEUE_MAX_WAIT`, 2 s, plus the login itself); a login that would wait longer is
   refused at once with 503, which is counted apart from other failures.
3. During the storm, a probe calls an app's authenticated GET (`bench_app`, built by the kit:
   one indexed SELECT behind a token signed as core signs them) 20 times a second: its p99 must
   stay under 50 ms, which it cannot if hashing blocked event loops or starved the other
   processes.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import statistics
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial

import httpx
from _support import (
    HERE,
    bench_app_env,
    bench_minter,
    bench_token,
    compare_in_rounds,
    core_argon2,
    core_database,
    others_load,
    report,
    report_compared,
    run_wrk,
    scratch_database,
    serve,
)
from token_verification import PASSWORD, make_items

from atriz_database.pool import connect

SECONDS = float(os.environ.get("BENCH_SECONDS", "4"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "7"))
# Enough accounts that 64 connections rarely hold 5 logins of one account at once: each login
# books a failure until it succeeds, and CORE_LOGIN_MAX_FAILURES (5) bookings lock the account.
USERS = 256
CONNECTIONS = (8, 64)
# After a storm, core still works off the logins it had queued (wrk does not wait for them):
# at most CORE_HASH_QUEUE_MAX_WAIT of hashing, which must not overlap the next ceiling.
DRAIN_SECONDS = 2.0
# `BENCH_CORE_ENV='{"BENCH_ACCESS_LOG": "0"}'`: core with bench switches (`bench_toggles`).
CORE_SWITCHES: dict[str, str] = json.loads(os.environ.get("BENCH_CORE_ENV", "{}"))
CORE_FACTORY = "bench_core:create_app" if CORE_SWITCHES else "atriz_core.app:create_app_from_env"
# Admitted logins wait at most CORE_HASH_QUEUE_MAX_WAIT (2 s) for a thread, then take their hash.
P99_TARGET_MS = 3000


def argon2_ceiling(seconds: float) -> float:
    """Verifications per second with core's default parameters, one thread per core."""
    hasher = core_argon2()
    stored = hasher.hash(PASSWORD)
    deadline = time.perf_counter() + seconds
    counts = [0] * (os.cpu_count() or 1)

    def work(slot: int) -> None:
        while time.perf_counter() < deadline:
            hasher.verify(stored, PASSWORD)
            counts[slot] += 1

    started = time.perf_counter()
    with ThreadPoolExecutor(len(counts)) as pool:
        list(pool.map(work, range(len(counts))))
    return sum(counts) / (time.perf_counter() - started)


async def make_users(url: str) -> None:
    """USERS accounts sharing one hash (hashing each would only slow the set-up)."""
    hasher = core_argon2()
    stored = hasher.hash(PASSWORD)
    connection = await connect(url)
    try:
        await connection.executemany(
            "INSERT INTO users (email, password_hash, name) VALUES ($1, $2, $3)",
            [(f"user{n}@bench.test", stored, f"User {n}") for n in range(USERS)],
        )
    finally:
        await connection.close()


@dataclass(frozen=True)
class Storm:
    """What wrk saw in one login storm."""

    logins: float  # successful logins per second
    busy: int  # 503: refused at once, the hashing queue being full
    other: dict[int, int]  # every other non-2xx response, by status
    p50_ms: float  # latencies of the successful logins
    p99_ms: float


def storm(core: str, seconds: float, connections: int) -> Storm:
    """wrk logging in for `seconds` from `connections` connections.

    wrk rather than a Python client: httpx's own CPU cost, on the same two cores, took about a
    tenth of the logins away from the server. `login_storm.lua` sorts the responses and takes
    the successful logins' percentiles.
    """
    output = run_wrk(
        core,
        seconds=seconds,
        connections=connections,
        script=HERE / "login_storm.lua",
        script_args=(str(USERS), PASSWORD),
    )
    figures = {name: float(value) for name, value in re.findall(r"^(\w+)=([\d.]+)$", output, re.M)}
    assert {"duration_us", "ok_p50_us", "ok_p99_us"} <= figures.keys(), output
    statuses = {
        int(name.removeprefix("status_")): int(count)
        for name, count in figures.items()
        if name.startswith("status_")
    }
    time.sleep(DRAIN_SECONDS)
    return Storm(
        logins=sum(n for s, n in statuses.items() if 200 <= s < 300) / figures["duration_us"] * 1e6,
        busy=statuses.get(503, 0),
        other={s: n for s, n in statuses.items() if not 200 <= s < 300 and s != 503},
        p50_ms=figures["ok_p50_us"] / 1000,
        p99_ms=figures["ok_p99_us"] / 1000,
    )


def _logins(core: str, connections: int, storms: list[Storm]) -> float:
    """Successful logins per second in a storm of SECONDS; the storm is kept in `storms`."""
    storms.append(storm(core, SECONDS, connections))
    return storms[-1].logins


def _others(storms: list[Storm]) -> str:
    """The other non-2xx responses of `storms`, in all and by status."""
    counts: dict[int, int] = {}
    for storm_ in storms:
        for status, count in storm_.other.items():
            counts[status] = counts.get(status, 0) + count
    by_status = ", ".join(f"{status}: {count}" for status, count in sorted(counts.items()))
    return f"{sum(counts.values())}" + (f" ({by_status})" if by_status else "")


def probe(url: str, token: str, stop: threading.Event, latencies: list[float]) -> None:
    with httpx.Client(headers={"Authorization": f"Bearer {token}"}) as http:
        while not stop.is_set():
            started = time.perf_counter()
            response = http.get(url)
            latencies.append((time.perf_counter() - started) * 1000)
            assert response.status_code == 200, response.text
            time.sleep(0.05)


@contextmanager
def _probing(url: str, token: str) -> Iterator[list[float]]:
    """Probe `url` from a thread while the `with` block runs; the latencies, in ms."""
    latencies: list[float] = []
    stop = threading.Event()
    prober = threading.Thread(target=probe, args=(url, token, stop, latencies))
    prober.start()
    try:
        yield latencies
    finally:
        stop.set()
        prober.join()


def main() -> None:
    with core_database() as url, scratch_database("app") as app_url:
        asyncio.run(make_users(url))
        asyncio.run(make_items(app_url))
        core_env = {
            "SHARED_DATABASE_URL": url,
            "ATRIZ_ENV": "test",
            "CORE_PUBLIC_URL": "http://core.bench",
            "CORE_ADDRESS_MAX_FAILURES": "100000",
            **CORE_SWITCHES,
        }
        # 1. The storms alone, each round between two measurements of the ceiling (core idles
        #    while the ceiling is measured).
        storms: dict[int, list[Storm]] = {connections: [] for connections in CONNECTIONS}
        with serve(CORE_FACTORY, workers=2, env=core_env) as core:
            for connections in CONNECTIONS:  # warm up: pools, caches
                storm(core, 1, connections)
            with others_load(url) as others_share:
                compared = compare_in_rounds(
                    lambda: argon2_ceiling(SECONDS / 2),
                    {f"{c}": partial(_logins, core, c, storms[c]) for c in CONNECTIONS},
                    ROUNDS,
                )
        # 2. An app beside core: its p99 when quiet, then during a storm.
        with serve(CORE_FACTORY, workers=2, env=core_env) as core:
            minter = bench_minter()
            token = bench_token(minter)
            app_env = bench_app_env(app_url, minter, url)
            with serve("bench_app:create_app", workers=2, env=app_env) as app:
                item = f"{app}/items/1"
                for _ in range(20):  # both workers fetch the JWKS and open their pools
                    httpx.get(item, headers={"Authorization": f"Bearer {token}"})
                with _probing(item, token) as quiet:
                    time.sleep(5)
                with _probing(item, token) as during:
                    storm(core, 2 * SECONDS, CONNECTIONS[0])

    ceiling = compared[f"{CONNECTIONS[0]}"].baseline
    print(
        f"argon2id m=19 MiB t=2 p=1; {ROUNDS} rounds; ceiling: {os.cpu_count()} threads for"
        f" {SECONDS / 2:.0f} s before and after each round of storms of {SECONDS:.0f} s (wrk -t2,"
        f" {' and '.join(map(str, CONNECTIONS))} connections, core on granian with 2 workers);"
        " medians; probe: the app's GET 20 times a second"
        + (f"; core switches {CORE_SWITCHES}" if CORE_SWITCHES else "")
    )
    print(
        f"other processes took {others_share():.1%} of the machine's CPU during the ceilings and"
        " storms (above a few percent, another job competed for the cores: the ratios mean less)"
    )
    report("argon2id verifications, all cores", ceiling, ceiling, "/s", "ceiling")
    for connections in CONNECTIONS:
        runs = storms[connections]
        name = f"successful logins, {connections} connections"
        report_compared(name, compared[f"{connections}"], "/s", ">= 0.85")
        print(
            f"{'':<48} successful logins p50 {statistics.median(s.p50_ms for s in runs):.0f} ms,"
            f" p99 {statistics.median(s.p99_ms for s in runs):.0f} ms"
            f" (rounds {min(s.p99_ms for s in runs):.0f}-{max(s.p99_ms for s in runs):.0f},"
            f" target < {P99_TARGET_MS} ms); 503 (queue full): {sum(s.busy for s in runs)},"
            f" other non-2xx: {_others(runs)}"
        )
    p99_quiet = statistics.quantiles(quiet, n=100)[98]
    p99_storm = statistics.quantiles(during, n=100)[98]
    report("app GET p99, quiet (ms)", p99_quiet, 50, "ms", "< 1.00 of 50 ms")
    report("app GET p99, during the login storm (ms)", p99_storm, 50, "ms", "< 1.00 of 50 ms")
    print(f"app GET p50 during the storm: {statistics.median(during):.1f} ms, {len(during)} probes")


if __name__ == "__main__":
    main()
