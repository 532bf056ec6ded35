"""PostgreSQL restarted under a steady request loop across every service.

    uv run python scripts/faults/postgres_restart.py [--seconds 12] [--clients 4]

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

from _system import Recorder, outcomes, print_outcomes, request_loop, running_system, sign_in

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
    failures = []
    for result in results:
        other_5xx = sum(n for status, n in result.statuses.items() if status > 503 or status == 500)
        other_5xx += sum(n for status, n in result.statuses.items() if 500 < status < 503)
        if other_5xx:
            failures.append(f"{result.service}: {other_5xx} answers 5xx other than 503")
        for path, count in result.unannounced_503.items():
            failures.append(f"{result.service}: {count} 503s without Retry-After on {path}")
        if result.statuses[0]:
            failures.append(f"{result.service}: {result.statuses[0]} requests got no answer")
        if result.recovered_after is not None and result.recovered_after > RECOVERY_LIMIT:
            failures.append(
                f"{result.service}: failing {result.recovered_after:.1f} s after the restart"
            )
    if len(alive) != len(system.urls):
        failures.append("a service process exited")
    for failure in failures:
        print(f"FAIL {failure}")
    if not failures:
        print(f"PASS no 500s; every 503 had Retry-After; all recovered within {RECOVERY_LIMIT:g} s")
    return 1 if failures else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=12.0, help="length of the request loop")
    parser.add_argument("--clients", type=int, default=4, help="concurrent clients")
    args = parser.parse_args()
    sys.exit(asyncio.run(exercise(args.seconds, args.clients)))


if __name__ == "__main__":
    main()
