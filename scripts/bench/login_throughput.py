"""Logins per second against the argon2 ceiling, and an app's latency during a login storm.

    uv run python scripts/bench/login_throughput.py

1. The ceiling: argon2id verifications per second with core's configured parameters, on every
   core at once (argon2-cffi releases the GIL, so threads use all cores), in this process.
2. A login storm against core (granian, 2 workers): successful logins per second. A login is one
   verification plus some SQL and a signature, so the ratio to the ceiling shows the overhead
   (target >= 0.85).
3. During the storm, a probe calls an app's authenticated GET (one indexed SELECT behind core's
   token) 20 times a second: its p99 must stay under 50 ms, which it cannot if hashing blocked
   event loops or starved the other processes.
"""

from __future__ import annotations

import asyncio
import os
import re
import statistics
import subprocess
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import httpx
from _support import (
    HERE,
    access_token,
    bench_app_env,
    compare_in_rounds,
    core_database,
    report,
    report_compared,
    serve,
)
from argon2 import PasswordHasher
from token_verification import PASSWORD, make_items

from atriz_core.settings import CoreSettings
from atriz_database.pool import connect

SECONDS = float(os.environ.get("BENCH_SECONDS", "4"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "7"))
USERS = 32
CONCURRENCY = 8


def argon2_ceiling(seconds: float) -> float:
    """Verifications per second with core's default parameters, one thread per core."""
    defaults = CoreSettings(database_url="")
    hasher = PasswordHasher(
        time_cost=defaults.argon2_time_cost,
        memory_cost=defaults.argon2_memory_kib,
        parallelism=defaults.argon2_parallelism,
    )
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
    hasher = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)
    stored = hasher.hash(PASSWORD)
    connection = await connect(url)
    try:
        await connection.executemany(
            "INSERT INTO users (email, password_hash, name) VALUES ($1, $2, $3)",
            [(f"user{n}@bench.test", stored, f"User {n}") for n in range(USERS)],
        )
    finally:
        await connection.close()


def storm(core: str, seconds: float) -> tuple[float, int]:
    """wrk logging in for `seconds` from CONCURRENCY connections: (logins/s, failures).

    wrk rather than a Python client: httpx's own CPU cost, on the same two cores, took about a
    tenth of the logins away from the server.
    """
    command = [
        "wrk", "-t2", f"-c{CONCURRENCY}", f"-d{seconds:.0f}s",
        "-s", str(HERE / "login_storm.lua"), core, "--", str(USERS), PASSWORD,
    ]  # fmt: skip
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout  # noqa: S603
    rate = re.search(r"Requests/sec:\s+([\d.]+)", output)
    failed = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    assert rate, output
    return float(rate[1]), int(failed[1]) if failed else 0


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
    with core_database() as url:
        asyncio.run(make_users(url))
        asyncio.run(make_items(url))
        core_env = {
            "SHARED_DATABASE_URL": url,
            "ATRIZ_ENV": "test",
            "CORE_PUBLIC_URL": "http://core.bench",
            "CORE_ADDRESS_MAX_FAILURES": "1000000",
        }
        # 1. The storm alone, each round between two measurements of the ceiling (core idles
        #    while the ceiling is measured).
        failed = 0

        def logins() -> float:
            nonlocal failed
            rate, failures = storm(core, SECONDS)
            failed += failures
            return rate - failures / SECONDS

        with serve("atriz_core.app:create_app_from_env", workers=2, env=core_env) as core:
            storm(core, 1)  # warm up: pools, caches
            compared = compare_in_rounds(
                lambda: argon2_ceiling(SECONDS / 2), {"logins": logins}, ROUNDS
            )["logins"]
        # 2. An app beside core: its p99 when quiet, then during a storm.
        with serve("atriz_core.app:create_app_from_env", workers=2, env=core_env) as core:
            token = access_token(core, "user0@bench.test", PASSWORD)
            app_env = bench_app_env(url, core)
            with serve("bench_app:create_app", workers=2, env=app_env) as app:
                item = f"{app}/items/1"
                for _ in range(20):  # both workers fetch the JWKS and open their pools
                    httpx.get(item, headers={"Authorization": f"Bearer {token}"})
                with _probing(item, token) as quiet:
                    time.sleep(5)
                with _probing(item, token) as during:
                    storm(core, 2 * SECONDS)

    print(
        f"argon2id m=19 MiB t=2 p=1; {ROUNDS} rounds; ceiling: {os.cpu_count()} threads for"
        f" {SECONDS / 2:.0f} s before and after each storm of {SECONDS:.0f} s (wrk,"
        f" {CONCURRENCY} connections, core on granian with 2 workers); medians;"
        f" {failed} failed logins; probe: the app's GET 20 times a second"
    )
    report("argon2id verifications, all cores", compared.baseline, compared.baseline, "/s",
           "ceiling")  # fmt: skip
    report_compared("successful logins", compared, "/s", ">= 0.85")
    p99_quiet = statistics.quantiles(quiet, n=100)[98]
    p99_storm = statistics.quantiles(during, n=100)[98]
    report("app GET p99, quiet (ms)", p99_quiet, 50, "ms", "< 1.00 of 50 ms")
    report("app GET p99, during the login storm (ms)", p99_storm, 50, "ms", "< 1.00 of 50 ms")
    print(f"app GET p50 during the storm: {statistics.median(during):.1f} ms, {len(during)} probes")


if __name__ == "__main__":
    main()
