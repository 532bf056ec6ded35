"""Logins and password checks sent truly at once: the lockout and the per-address limit hold,
and a login burst neither holds the pool nor queues without end.

Requests go through `httpx.ASGITransport` in the test's event loop (`running_core`), so those
sent together overlap; each test shows it did (`in_flight.peak`).
"""

from __future__ import annotations

import asyncio
import functools
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field, replace
from typing import Any

import httpx
import jwt
import pytest

from atriz_core.context import Core
from atriz_core.passwords.hashing import PasswordHasher, Verification
from atriz_core.settings import CoreSettings
from atriz_core.testing import TEST_PASSWORD, CoreHarness, eventually, running_core
from atriz_database import DatabaseSettings

EMAIL = "ana@example.test"
WRONG = "not the password at all"


@dataclass
class HashSpy:
    """Counts checks against real hashes (not the decoy), and can hold the hashing threads."""

    real_checks: list[str] = field(default_factory=list)
    gate: threading.Event = field(default_factory=threading.Event)
    held: set[str] = field(default_factory=set)
    """Passwords whose check waits for `gate`."""


@contextmanager
def spying(core: Core) -> Iterator[HashSpy]:
    spy = HashSpy()
    hasher = core.hasher
    original = hasher._verify

    def verify(password_hash: str | None, password: str) -> Verification:
        if password in spy.held:
            spy.gate.wait(timeout=30)
        if password_hash is not None:
            spy.real_checks.append(password)
        return original(password_hash, password)

    hasher._verify = verify  # type: ignore[method-assign]
    try:
        yield spy
    finally:
        spy.gate.set()
        hasher._verify = original  # type: ignore[method-assign]


@asynccontextmanager
async def core_with(
    core_settings: CoreSettings, database: DatabaseSettings | None = None, **overrides: Any
) -> AsyncIterator[CoreHarness]:
    # Four hashing threads, so that concurrent checks run in parallel as on a busy server.
    settings = replace(core_settings, **{"hash_threads": 4, **overrides})
    async with running_core(settings, peer=("192.0.2.7", 5000), database=database) as core:
        await core.register()
        yield core


async def login(core: CoreHarness, password: str, email: str = EMAIL) -> httpx.Response:
    return await core.client.post("/auth/login", json={"email": email, "password": password})


until = functools.partial(eventually, seconds=5.0, every=0.01)


def core_of(harness: CoreHarness) -> Core:
    core: Core = harness.app.state.core
    return core


@pytest.mark.pgbouncer  # and through PgBouncer: the lockout's row locks hold there too
async def test_concurrent_guesses_reach_the_hash_at_most_the_failure_limit(
    core_settings: CoreSettings,
) -> None:
    async with core_with(core_settings, login_max_failures=5) as core:
        with spying(core_of(core)) as spy:
            # The right password's check ends once every wrong one has answered: ending
            # earlier, a success booked last gives the account a fresh count, and a guess that
            # arrives after it is a first failure again (fair, but no longer this race).
            spy.held.add(TEST_PASSWORD)
            right = asyncio.create_task(login(core, TEST_PASSWORD))
            wrong = await asyncio.gather(*(login(core, f"{WRONG} {n}") for n in range(9)))
            spy.gate.set()
            responses = [*wrong, await right]

        assert core.in_flight.peak > 1, "the logins did not overlap"
        assert len(spy.real_checks) <= 5, spy.real_checks
        assert {r.status_code for r in responses} <= {200, 401}
        count, locked_until = (
            await core.sql_rows("SELECT failed_login_count, locked_until FROM users")
        )[0]
        # Five attempts were booked; the fifth locked the account. Only a right password
        # booked last, with no attempt after it, clears that; otherwise the lock holds.
        assert (count, locked_until is not None) in {(5, True), (4, True), (0, False)}


@pytest.mark.pgbouncer
async def test_a_success_never_clears_a_lock_that_a_concurrent_failure_set(
    core_settings: CoreSettings,
) -> None:
    async with core_with(core_settings, login_max_failures=3) as core:
        with spying(core_of(core)) as spy:
            spy.held.add(TEST_PASSWORD)  # the right password is checked last
            success = asyncio.create_task(login(core, TEST_PASSWORD))
            await until(lambda: core.sql_value("SELECT failed_login_count = 1 FROM users"))
            failures = await asyncio.gather(*(login(core, f"{WRONG} {n}") for n in range(4)))
            spy.gate.set()
            signed_in = await success

        assert signed_in.status_code == 200
        assert [r.status_code for r in failures] == [401] * 4
        assert len(spy.real_checks) == 3, "the right one and two wrong ones, then the lock"
        locked_until = await core.sql_value("SELECT locked_until FROM users")
        assert locked_until is not None
        assert locked_until > core.clock.now()
        assert (await login(core, TEST_PASSWORD)).status_code == 401, "still locked"


async def test_concurrent_failures_from_one_address_stop_at_its_limit(
    core_settings: CoreSettings,
) -> None:
    async with core_with(core_settings, address_max_failures=3) as core:
        responses = await asyncio.gather(
            *(login(core, WRONG, email=f"nobody{n}@example.test") for n in range(10))
        )

        assert core.in_flight.peak > 1
        assert sorted(r.status_code for r in responses) == [401] * 3 + [429] * 7
        assert all(int(r.headers["retry-after"]) >= 1 for r in responses if r.status_code == 429)


async def test_a_success_gives_back_its_address_booking(core_settings: CoreSettings) -> None:
    async with core_with(core_settings, address_max_failures=2) as core:
        for _ in range(5):
            assert (await login(core, TEST_PASSWORD)).status_code == 200
        assert (await login(core, WRONG)).status_code == 401
        assert (await login(core, WRONG)).status_code == 401
        assert (await login(core, WRONG)).status_code == 429


@pytest.mark.pgbouncer
async def test_wrong_current_passwords_count_toward_the_lockout(
    core_settings: CoreSettings,
) -> None:
    async with core_with(core_settings, login_max_failures=3) as core:
        headers = core.bearer(await core.login())

        async def change(current: str) -> httpx.Response:
            return await core.client.post(
                "/auth/password",
                json={"current_password": current, "new_password": "another fine passphrase"},
                headers=headers,
            )

        with spying(core_of(core)) as spy:
            guesses = await asyncio.gather(*(change(f"{WRONG} {n}") for n in range(8)))
        right = await change(TEST_PASSWORD)

        assert core.in_flight.peak > 1
        assert len(spy.real_checks) <= 3, spy.real_checks
        statuses = sorted(r.status_code for r in guesses)
        assert statuses.count(422) <= 3
        assert set(statuses) <= {422, 429}
        assert right.status_code == 429, "locked: not even the right password is checked"
        assert int(right.headers["retry-after"]) >= 1
        assert (await login(core, TEST_PASSWORD)).status_code == 401, "login is locked too"


async def test_no_connection_is_held_while_logins_wait_for_hashing(
    core_settings: CoreSettings,
) -> None:
    database = DatabaseSettings(pool_min_size=1, pool_max_size=2, acquire_timeout=5)
    async with core_with(core_settings, database, hash_threads=1) as core:
        tokens = await core.login()
        with spying(core_of(core)) as spy:
            spy.held.add(WRONG)
            stuck = [asyncio.create_task(login(core, WRONG)) for _ in range(6)]
            await until(lambda: core_of(core).hasher.pending == 6)
            # Every hashing thread is held and six logins wait for one; the pool has two
            # connections. A refresh must not wait for them.
            refreshed = await asyncio.wait_for(
                core.client.post("/auth/refresh", json={"refresh_token": tokens["refresh_token"]}),
                timeout=4,
            )
            assert not any(task.done() for task in stuck)
            spy.gate.set()
            await asyncio.gather(*stuck)

        assert refreshed.status_code == 200


async def test_a_busy_pool_answers_503_with_retry_after_instead_of_hanging(
    core_settings: CoreSettings,
) -> None:
    database = DatabaseSettings(pool_min_size=1, pool_max_size=1, acquire_timeout=0.3)
    async with core_with(core_settings, database) as core:
        headers = core.bearer(await core.login())
        async with core.app.state.db_pool.acquire():  # the only connection is busy
            response = await asyncio.wait_for(
                core.client.get("/auth/me", headers=headers), timeout=3
            )

        assert response.status_code == 503
        assert response.headers["content-type"].startswith("application/problem+json")
        assert int(response.headers["retry-after"]) >= 1
        assert (await core.client.get("/auth/me", headers=headers)).status_code == 200


def with_room_for_four(hasher: PasswordHasher) -> PasswordHasher:
    """`hasher` whose queue has room for about four logins (a hash priced at 0.1 s)."""
    hasher.mean_seconds = 0.1
    hasher.max_queue_wait = 0.35
    return hasher


async def test_logins_beyond_the_hashing_queue_limit_get_503_at_once(
    core_settings: CoreSettings,
) -> None:
    async with core_with(core_settings, hash_threads=1) as core:
        hasher = with_room_for_four(core_of(core).hasher)
        with spying(core_of(core)) as spy:
            spy.held.add(WRONG)
            admitted = [asyncio.create_task(login(core, WRONG)) for _ in range(4)]
            await until(lambda: hasher.pending == 4)
            refused = await asyncio.wait_for(
                asyncio.gather(*(login(core, WRONG) for _ in range(6))), timeout=3
            )
            assert not any(task.done() for task in admitted), "the queue is still held"
            spy.gate.set()
            answered = await asyncio.gather(*admitted)

        assert [r.status_code for r in refused] == [503] * 6
        assert all(int(r.headers["retry-after"]) >= 1 for r in refused)
        assert [r.status_code for r in answered] == [401] * 4
        failures = await core.sql_value("SELECT failed_login_count FROM users")
        assert failures == 4, "a refused login books no failure"


async def test_logins_arriving_together_are_admitted_only_up_to_the_queue_limit(
    core_settings: CoreSettings,
) -> None:
    # Each login reads the database between its admission and its hash: counted only once
    # their hashes were submitted, all ten saw an empty queue and were admitted.
    async with core_with(core_settings, hash_threads=1) as core:
        hasher = with_room_for_four(core_of(core).hasher)
        with spying(core_of(core)) as spy:
            spy.held.add(WRONG)
            logins = [asyncio.create_task(login(core, WRONG)) for _ in range(10)]
            await until(lambda: sum(task.done() for task in logins) == 6)
            waiting = hasher.pending
            spy.gate.set()
            responses = await asyncio.gather(*logins)

        assert core.in_flight.peak > 4
        assert waiting == 4
        assert sorted(r.status_code for r in responses) == [401] * 4 + [503] * 6
        assert await core.sql_value("SELECT failed_login_count FROM users") == 4
        assert hasher.pending == 0, "every admission gave its place back"


@pytest.mark.pgbouncer
async def test_right_and_wrong_passwords_at_once_from_one_address_never_deadlock(
    core_settings: CoreSettings,
) -> None:
    # Booking locks the address's row, then the account's; a success used to lock them the
    # other way round in one statement, and the two deadlocked (a 500).
    async with core_with(core_settings, login_max_failures=100, address_max_failures=1000) as core:
        responses = await asyncio.gather(
            *(login(core, TEST_PASSWORD if n % 2 else f"{WRONG} {n}") for n in range(40))
        )

        assert core.in_flight.peak > 1
        statuses = sorted({r.status_code for r in responses})
        assert statuses == [200, 401], statuses


async def test_a_login_that_waited_on_a_role_change_reads_the_roles_after_it(
    core_settings: CoreSettings,
) -> None:
    """A role taken away while a login's last statement waits on the user's row: the login
    reads the roles once the change has committed (`user_role_names` takes its own snapshot),
    so its token does not carry the role, however the clocks fall."""
    async with core_with(core_settings) as core:
        admin = await core.admin_headers()
        user_id = await core.sql_value("SELECT id FROM users WHERE email = $1", EMAIL)
        granted = await core.client.post(
            f"/admin/users/{user_id}/roles", json={"role": "pshop.cashier"}, headers=admin
        )
        assert granted.status_code == 204, granted.text
        admin_id = await core.sql_value("SELECT id FROM users WHERE email <> $1", EMAIL)
        with spying(core_of(core)) as spy:
            spy.held.add(TEST_PASSWORD)
            signing_in = asyncio.create_task(login(core, TEST_PASSWORD))
            await until(lambda: core_of(core).hasher.pending == 1)
            async with core.role_removal_held_open(user_id, "pshop.cashier", admin_id=admin_id):
                spy.gate.set()
                # The login's last statement waits for the change's row lock...
                await core.until_a_statement_waits_on_a_lock()
                core.clock.advance(5)  # ... a while, past the event's second
            response = await signing_in

        assert response.status_code == 200, response.text
        claims = jwt.decode(response.json()["access_token"], options={"verify_signature": False})
        assert claims["roles"] == ["user"]
        # Issued before the change's event too (its clock was read before it waited): the
        # apps refuse it, and the refresh that follows gets a token they accept.
        assert await core.apps_refuse(response.json()["access_token"])
