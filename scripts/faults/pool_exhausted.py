"""Every service's connection pool exhausted: refusals come fast, with `Retry-After`; no hang.

    uv run python scripts/faults/pool_exhausted.py [--seconds 12] [--clients 6]

Starts a PostgreSQL of its own and `atriz dev` on it with tiny pools (2 connections, a 1 s
acquire timeout, a 3 s lock timeout), then, while clients send reads to every service, takes an
exclusive lock on the table each service's reads need, in its own database, for a few seconds.
The requests holding the pooled connections wait for the lock and the rest for a connection.
Passes when no request waits longer than the lock timeout plus the acquire timeout (and a
margin), every 503 carries `Retry-After`, no answer is another 5xx, and every service answers
normally again once the locks are gone. Exit status 0 on a pass, 1 otherwise.
"""

from __future__ import annotations

import argparse
import asyncio
import sys

import psycopg
from _system import (
    Recorder,
    RunningSystem,
    failures_of,
    outcomes,
    print_outcomes,
    report,
    request_loop,
    running_system,
    sign_in,
)

from atriz_database.targets import TargetRegistry

ACQUIRE_TIMEOUT, LOCK_TIMEOUT = 1.0, 3.0
LONGEST_WAIT = ACQUIRE_TIMEOUT + LOCK_TIMEOUT + 1.5  # a queue of waits, plus a busy machine
RECOVERY_LIMIT = 10.0  # as for a restart of PostgreSQL
# The table each service's probes (`_system.PROBES`) read, in its own database.
LOCKED_TABLES = {
    "core": "users",
    "website": "articles",
    "mextrack": "vehicles",
    "pshop": "products",
}


def hold_locks(system: RunningSystem, seconds: float) -> None:
    """Lock each service's table for `seconds`, all at once, from outside the services."""
    registry = TargetRegistry.from_entry_points()
    holders = []
    try:
        for service in system.urls:
            database = registry.get(service).database
            holder = psycopg.connect(system.cluster.url(database))
            holder.execute(f"LOCK TABLE {LOCKED_TABLES[service]} IN ACCESS EXCLUSIVE MODE")
            holders.append(holder)
        asyncio.run(asyncio.sleep(seconds))
    finally:
        for holder in holders:
            holder.close()  # rolls back, releasing the lock


async def exercise(seconds: float, clients: int) -> int:
    with running_system(
        ATRIZ_DB_POOL_MIN="1",
        ATRIZ_DB_POOL_MAX="2",
        ATRIZ_DB_ACQUIRE_TIMEOUT=str(ACQUIRE_TIMEOUT),
        ATRIZ_DB_LOCK_TIMEOUT=str(LOCK_TIMEOUT),
    ) as system:
        token = await sign_in(system.urls["core"])
        recorder = Recorder()
        loop = asyncio.create_task(
            request_loop(system.urls, token, recorder, until=seconds, clients=clients)
        )
        await asyncio.sleep(seconds / 4)
        locked = recorder.now()
        await asyncio.to_thread(hold_locks, system, seconds / 3)
        released = recorder.now()
        print(f"tables locked from {locked:.1f} s to {released:.1f} s")
        await loop
    results = outcomes(recorder, fault_ended=released)
    print_outcomes(results)
    slowest = max(recorder.answers, key=lambda answer: answer.seconds)
    print(f"slowest answer: {slowest.seconds:.2f} s ({slowest.service} {slowest.path})")
    failures = failures_of(results, recovery_limit=RECOVERY_LIMIT)
    failures += [
        f"{result.service}: never refused: the fault did not take hold"
        for result in results
        if not result.statuses[503]
    ]
    if slowest.seconds > LONGEST_WAIT:
        failures.append(f"an answer took {slowest.seconds:.1f} s (limit {LONGEST_WAIT:g} s)")
    return report(
        failures,
        f"every refusal a 503 with Retry-After within {LONGEST_WAIT:g} s; recovered",
        system.log,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=12.0, help="length of the request loop")
    parser.add_argument("--clients", type=int, default=6, help="concurrent clients per service")
    args = parser.parse_args()
    sys.exit(asyncio.run(exercise(args.seconds, args.clients)))


if __name__ == "__main__":
    main()
