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
import statistics
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
from _support import core_database, report, serve
from argon2 import PasswordHasher
from token_verification import PASSWORD, make_items

from atriz_core.settings import CoreSettings
from atriz_database.pool import connect

SECONDS = float(os.environ.get("BENCH_SECONDS", "10"))
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


async def storm(core: str, seconds: float) -> tuple[int, int]:
    """Logins for `seconds` from CONCURRENCY clients; (successes, failures)."""
    deadline = time.perf_counter() + seconds
    results = {"ok": 0, "failed": 0}

    async def client(slot: int) -> None:
        async with httpx.AsyncClient(base_url=core, timeout=30) as http:
            n = slot
            while time.perf_counter() < deadline:
                body = {"email": f"user{n % USERS}@bench.test", "password": PASSWORD}
                response = await http.post("/auth/login", json=body)
                results["ok" if response.status_code == 200 else "failed"] += 1
                n += CONCURRENCY

    await asyncio.gather(*(client(slot) for slot in range(CONCURRENCY)))
    return results["ok"], results["failed"]


def probe(url: str, token: str, stop: threading.Event, latencies: list[float]) -> None:
    with httpx.Client(headers={"Authorization": f"Bearer {token}"}) as http:
        while not stop.is_set():
            started = time.perf_counter()
            response = http.get(url)
            latencies.append((time.perf_counter() - started) * 1000)
            assert response.status_code == 200, response.text
            time.sleep(0.05)


def main() -> None:
    ceiling = argon2_ceiling(5)
    with core_database() as url:
        asyncio.run(make_users(url))
        asyncio.run(make_items(url))
        core_env = {
            "SHARED_DATABASE_URL": url,
            "ATRIZ_ENV": "test",
            "CORE_PUBLIC_URL": "http://core.bench",
            "CORE_ADDRESS_MAX_FAILURES": "1000000",
        }
        with serve("atriz_core.app:create_app_from_env", workers=2, env=core_env) as core:
            token = httpx.post(
                f"{core}/auth/login", json={"email": "user0@bench.test", "password": PASSWORD}
            ).json()["access_token"]
            app_env = {
                "BENCH_DATABASE_URL": url,
                "BENCH_JWKS_URL": f"{core}/.well-known/jwks.json",
                "BENCH_ISSUER": "http://core.bench",
            }
            with serve("bench_app:create_app", workers=2, env=app_env) as app:
                for _ in range(20):  # both workers fetch the JWKS and open their pools
                    httpx.get(f"{app}/items/1", headers={"Authorization": f"Bearer {token}"})
                quiet: list[float] = []
                stop = threading.Event()
                prober = threading.Thread(target=probe, args=(f"{app}/items/1", token, stop, quiet))
                prober.start()
                time.sleep(3)
                stop.set()
                prober.join()

                during: list[float] = []
                stop = threading.Event()
                prober = threading.Thread(
                    target=probe, args=(f"{app}/items/1", token, stop, during)
                )
                prober.start()
                started = time.perf_counter()
                ok, failed = asyncio.run(storm(core, SECONDS))
                elapsed = time.perf_counter() - started
                stop.set()
                prober.join()

    logins = ok / elapsed
    print(
        f"argon2id m=19 MiB t=2 p=1; ceiling: {os.cpu_count()} threads for 5 s; storm:"
        f" {CONCURRENCY} clients for {SECONDS:.0f} s against core on granian, 2 workers;"
        f" {failed} failed logins"
    )
    report("argon2id verifications, all cores", ceiling, ceiling, "/s", "ceiling")
    report("successful logins", logins, ceiling, "/s", ">= 0.85")
    p99_quiet = statistics.quantiles(quiet, n=100)[98]
    p99_storm = statistics.quantiles(during, n=100)[98]
    report("app GET p99, quiet (ms)", p99_quiet, 50, "ms", "< 1.00 of 50 ms")
    report("app GET p99, during the login storm (ms)", p99_storm, 50, "ms", "< 1.00 of 50 ms")
    print(f"app GET p50 during the storm: {statistics.median(during):.1f} ms, {len(during)} probes")


if __name__ == "__main__":
    main()
