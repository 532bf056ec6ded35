"""Core stopped, its database `atriz_shared` out of reach, while the apps serve.

    uv run python scripts/faults/core_down.py

Starts a PostgreSQL of its own and every service as its own process (`atriz serve NAME`). Two
seeded users sign in; one signs out everywhere, and the script waits until every app refuses
that user's token. Then core stops and `atriz_shared` refuses connections. For a few seconds:

- the other user's token still works on each app's reads of its own database (the apps verify
  tokens with the keys they fetched, and need core for nothing else);
- each app's writes that must check a user in `atriz_shared` answer 503 with `Retry-After`;
- the user who signed out stays refused (the apps keep what they learnt before the outage);
- `/ready` says `degraded`, not `unhealthy`: the app's own database is fine.

Exit status 0 when all of that holds, 1 otherwise.
"""

from __future__ import annotations

import sys
import time
import uuid
from typing import Any

import httpx
import psycopg
from _system import SEEDED_USER, SeparateServices, report, running_services

from atriz_database.testing_processes import seen_output

APPS = ("website", "mextrack", "pshop")
KEPT, SIGNED_OUT = SEEDED_USER[0], "ben@atriz.localhost"
# A read of each app's own database with a token, and a write that checks a user in
# atriz_shared (the owner of a new vehicle, a sale's customer, ...).
OWN_READS = {"website": "/articles/manage", "mextrack": "/vehicles", "pshop": "/products"}
OUTAGE_SECONDS = 5.0


def shared_writes() -> dict[str, tuple[str, str, dict[str, Any]]]:
    """Per app: a write that must check a user in `atriz_shared` first."""
    return {
        "mextrack": (
            "POST",
            "/vehicles",
            {"name": "Outage van", "plate": f"OUT-{uuid.uuid4().hex[:5].upper()}"},
        ),
    }


def sign_in(core: str, email: str) -> dict[str, Any]:
    answer = httpx.post(
        f"{core}/auth/login", json={"email": email, "password": SEEDED_USER[1]}, timeout=10
    )
    answer.raise_for_status()
    tokens = answer.json()
    me = httpx.get(
        f"{core}/auth/me", headers={"Authorization": f"Bearer {tokens['access_token']}"}, timeout=10
    )
    return {**tokens, "id": me.json()["id"]}


def read_statuses(services: SeparateServices, token: str) -> dict[str, int]:
    headers = {"Authorization": f"Bearer {token}"}
    return {
        app: httpx.get(services.urls[app] + OWN_READS[app], headers=headers, timeout=10).status_code
        for app in APPS
    }


def cut_off_shared(services: SeparateServices, allow: bool) -> None:
    with psycopg.connect(services.cluster.url(), autocommit=True) as admin:
        admin.execute(
            f"ALTER DATABASE atriz_shared WITH ALLOW_CONNECTIONS {'true' if allow else 'false'}"
        )
        if not allow:
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = 'atriz_shared' AND pid <> pg_backend_pid()"
            )


def exercise() -> int:
    failures: list[str] = []
    with running_services() as services:
        core = services.urls["core"]
        kept, leaving = sign_in(core, KEPT), sign_in(core, SIGNED_OUT)
        httpx.post(
            f"{core}/auth/logout-all",
            headers={"Authorization": f"Bearer {leaving['access_token']}"},
            timeout=10,
        ).raise_for_status()
        deadline = time.monotonic() + 10
        while set(read_statuses(services, leaving["access_token"]).values()) != {401}:
            if time.monotonic() > deadline:
                return report(["the signed-out user was never refused everywhere"], "")
            time.sleep(0.2)

        services.stop("core")
        cut_off_shared(services, allow=False)
        print(f"core stopped and atriz_shared cut off; watching for {OUTAGE_SECONDS:g} s")
        headers = {"Authorization": f"Bearer {kept['access_token']}"}
        ended = time.monotonic() + OUTAGE_SECONDS
        rounds = 0
        while time.monotonic() < ended:
            rounds += 1
            kept_reads = read_statuses(services, kept["access_token"])
            refused = read_statuses(services, leaving["access_token"])
            failures += [
                f"{app}: kept user's read got {s}" for app, s in kept_reads.items() if s != 200
            ]
            failures += [
                f"{app}: signed-out user got {s}" for app, s in refused.items() if s != 401
            ]
            for app, (method, path, body) in shared_writes().items():
                answer = httpx.request(
                    method, services.urls[app] + path, json=body, headers=headers, timeout=10
                )
                if answer.status_code != 503 or "retry-after" not in answer.headers:
                    failures.append(f"{app}: {method} {path} got {answer.status_code}, not 503")
            for app in APPS:
                ready = httpx.get(services.urls[app] + "/ready", timeout=10)
                if ready.status_code != 200 or ready.json()["status"] != "degraded":
                    failures.append(f"{app}: /ready {ready.status_code} {ready.text[:80]}")
            time.sleep(0.5)
        print(f"{rounds} rounds of checks during the outage")
        cut_off_shared(services, allow=True)
        log = "".join(seen_output(process) for process in services.processes.values())
    return report(
        sorted(set(failures)),
        log=log,
        passed="with core down: valid tokens worked, shared-database writes got 503 with"
        " Retry-After, the signed-out user stayed refused, /ready said degraded",
    )


if __name__ == "__main__":
    sys.exit(exercise())
