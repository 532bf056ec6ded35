"""PostgreSQL restarted under a steady request loop across every service.

    uv run python scripts/faults/postgres_restart.py [--seconds 12] [--clients 2]

Starts a PostgreSQL of its own and `atriz dev` on it, signs a seeded user in, and sends reads
that need each service's databases (`_system.PROBES`) from several clients; a few seconds in,
the server gets a fast restart (every connection cut, transactions rolled back). Passes when no
answer is a 5xx other than 503, every 503 carries `Retry-After`, no request goes unanswered, and
every service answers normally again within 10 s of the server's return, with no service
restarted. Exit status 0 on a pass, 1 otherwise.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time

from _system import (
    Recorder,
    failures_of,
    outcomes,
    print_outcomes,
    report,
    request_loop,
    running_system,
    sign_in,
)

RECOVERY_LIMIT = 10.0


async def exercise(seconds: float, clients: int) -> int:
    with running_system(ATRIZ_DB_ACQUIRE_TIMEOUT="2") as system:
        token = await sign_in(system.urls["core"])
        recorder = Recorder()
        loop = asyncio.create_task(
            request_loop(system.urls, token, recorder, until=seconds, clients=clients)
        )
        await asyncio.sleep(seconds / 4)
        down = recorder.now()
        started = time.monotonic()
        await asyncio.to_thread(system.cluster.restart)
        up = recorder.now()
        print(
            f"PostgreSQL restarted at {down:.1f} s, back after {time.monotonic() - started:.2f} s"
        )
        await loop
        alive = [name for name in system.urls if system.process.poll() is None]
    results = outcomes(recorder, fault_ended=up)
    print_outcomes(results)
    failures = failures_of(results, recovery_limit=RECOVERY_LIMIT)
    if len(alive) != len(system.urls):
        failures.append("a service process exited")
    return report(
        failures,
        f"no 500s; every 503 had Retry-After; all recovered within {RECOVERY_LIMIT:g} s",
        system.log,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=12.0, help="length of the request loop")
    parser.add_argument("--clients", type=int, default=2, help="concurrent clients per service")
    args = parser.parse_args()
    sys.exit(asyncio.run(exercise(args.seconds, args.clients)))


if __name__ == "__main__":
    main()
