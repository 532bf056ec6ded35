"""User deletions reach every app across restarts and a crash midway, each applied once.

    uv run python scripts/faults/consumers_killed.py [--users 40]

Starts a PostgreSQL of its own and every service as its own process (`atriz serve NAME`). Gives
each of `--users` new users a website profile and a mextrack vehicle, then deletes them through
core's admin API in two halves:

1. the three apps are killed (`kill -9`) first, the first half is deleted while they are down,
   and they are started again: they must catch up on what they missed;
2. the second half is deleted while they run, and a few deletions in, the apps are killed
   again, mid-stream, and restarted.

Passes when, within 10 s of the last restart, every app's cursor stands at core's last event,
every deleted user's data went by the app's own policy (profile gone, vehicle unowned,
recorded by pshop as removed), no kept user's data was touched, and `db-check-refs all` finds
nothing. The cursor commits in the transaction that applies its events (`atriz_core.kit`), so
no event is applied twice: the kit's tests kill a consumer between its writes and its commit.
Exit status 0 on a pass, 1 otherwise.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import threading
import time
import uuid

import httpx
import psycopg
from _system import SeparateServices, report, running_services

from atriz_database.testing import BIN

APPS = ("website", "mextrack", "pshop")
DATABASES = {"website": "atriz_db", "mextrack": "mextrack_db", "pshop": "pshop_db"}
ADMIN = ("admin@atriz.localhost", "fault-admin-password-1")
CATCH_UP_LIMIT = 10.0


def create_users(services: SeparateServices, count: int) -> list[str]:
    """`count` users in atriz_shared, each with a website profile and a mextrack vehicle."""
    ids = [str(uuid.uuid4()) for _ in range(count)]
    with psycopg.connect(services.cluster.url("atriz_shared")) as shared:
        for user_id in ids:
            shared.execute(
                "INSERT INTO users (id, email, password_hash, name) VALUES (%s, %s, '!', 'Gone')",
                (user_id, f"gone-{user_id}@atriz.localhost"),
            )
    with psycopg.connect(services.cluster.url("atriz_db")) as website:
        for user_id in ids:
            website.execute(
                "INSERT INTO user_profiles (user_id, display_name) VALUES (%s, 'Soon gone')",
                (user_id,),
            )
    with psycopg.connect(services.cluster.url("mextrack_db")) as mextrack:
        for index, user_id in enumerate(ids):
            mextrack.execute(
                "INSERT INTO vehicles (owner_id, name, plate) VALUES (%s, 'Van', %s)",
                (user_id, f"GONE-{index}"),
            )
    return ids


def delete_users(core: str, token: str, ids: list[str], deleted: list[str]) -> None:
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(headers=headers, timeout=10) as client:
        for user_id in ids:
            client.delete(f"{core}/admin/users/{user_id}").raise_for_status()
            deleted.append(user_id)


def kill_and_restart_apps(services: SeparateServices) -> None:
    for app in APPS:
        services.kill(app)
    for app in APPS:
        services.start(app)


def cursors_at_end(services: SeparateServices) -> dict[str, bool]:
    with psycopg.connect(services.cluster.url("atriz_shared")) as shared:
        row = shared.execute("SELECT max(id) FROM user_events").fetchone()
        last = row[0] if row else None
    at_end = {}
    for app in APPS:
        with psycopg.connect(services.cluster.url(DATABASES[app])) as connection:
            row = connection.execute("SELECT max(event_id) FROM user_event_cursor").fetchone()
            at_end[app] = row is not None and row[0] == last
    return at_end


def effects(services: SeparateServices, ids: list[str]) -> dict[str, int]:
    """Of `ids`, how many each app's policy has reached."""

    def count(database: str, query: str) -> int:
        with psycopg.connect(services.cluster.url(database)) as connection:
            row = connection.execute(query, (ids,)).fetchone()
            return int(row[0]) if row else 0

    return {
        "website profiles gone": len(ids)
        - count("atriz_db", "SELECT count(*) FROM user_profiles WHERE user_id = ANY(%s::uuid[])"),
        "mextrack vehicles unowned": len(ids)
        - count("mextrack_db", "SELECT count(*) FROM vehicles WHERE owner_id = ANY(%s::uuid[])"),
        "pshop removed users": count(
            "pshop_db", "SELECT count(*) FROM removed_users WHERE user_id = ANY(%s::uuid[])"
        ),
    }


def exercise(count: int) -> int:
    failures: list[str] = []
    with running_services(ATRIZ_ADMIN_EMAIL=ADMIN[0], ATRIZ_ADMIN_PASSWORD=ADMIN[1]) as services:
        core = services.urls["core"]
        login = httpx.post(
            f"{core}/auth/login", json={"email": ADMIN[0], "password": ADMIN[1]}, timeout=10
        )
        login.raise_for_status()
        token = login.json()["access_token"]
        users = create_users(services, 2 * count)
        doomed, kept = users[:count], users[count:]
        first, second = doomed[: count // 2], doomed[count // 2 :]
        deleted: list[str] = []

        for app in APPS:
            services.kill(app)
        delete_users(core, token, first, deleted)
        for app in APPS:
            services.start(app)
        print(f"{len(first)} users deleted while the apps were down; apps restarted")

        deleting = threading.Thread(target=delete_users, args=(core, token, second, deleted))
        deleting.start()
        while len(deleted) < len(first) + 3:
            time.sleep(0.01)
        at_kill = len(deleted) - len(first)
        kill_and_restart_apps(services)
        deleting.join()
        restarted = time.monotonic()
        print(f"apps killed {at_kill} deletions into the second {len(second)}; restarted")

        while not all(cursors_at_end(services).values()):
            if time.monotonic() - restarted > CATCH_UP_LIMIT:
                behind = [app for app, done in cursors_at_end(services).items() if not done]
                failures.append(f"{', '.join(behind)} still behind core's events after 10 s")
                break
            time.sleep(0.1)
        print(f"every cursor at core's last event {time.monotonic() - restarted:.1f} s later")

        done, untouched = effects(services, doomed), effects(services, kept)
        for what, reached in done.items():
            print(f"{what}: {reached}/{len(doomed)} deleted users, {untouched[what]} kept users")
            if reached != len(doomed):
                failures.append(f"{what}: {reached} of {len(doomed)} deleted users")
            if untouched[what]:
                failures.append(f"{what}: {untouched[what]} users who were not deleted")
        check = subprocess.run(  # noqa: S603 - the project's own command
            [str(BIN / "db-check-refs"), "all"],
            env=services.env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if check.returncode:
            failures.append(f"db-check-refs all: {check.stdout.strip()[-500:]}")
    return report(failures, "every deletion reached every app across restarts and a crash")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=40, help="users deleted (as many kept)")
    args = parser.parse_args()
    sys.exit(exercise(args.users))


if __name__ == "__main__":
    main()
