"""Booked login attempts settled in any order: a success lifts a lock only if no attempt was
booked after its own, and successes alone never leave an account locked."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import asyncpg
import pytest

from atriz_core.accounts import repository
from atriz_core.accounts.repository import Lockout
from atriz_database import create_pool
from atriz_database.pool import close_pool

LOCKOUT = Lockout(max_failures=3, base_seconds=30, max_seconds=900)


@pytest.fixture
async def pool(core_database_url: str) -> AsyncIterator[asyncpg.Pool]:
    pool = await create_pool(core_database_url)
    await pool.execute(
        "INSERT INTO users (email, password_hash, name) VALUES ('a@example.test', 'h', 'A')"
    )
    yield pool
    await close_pool(pool)


async def book(pool: asyncpg.Pool) -> int:
    attempt = await repository.reserve_login_attempt(
        pool,
        "a@example.test",
        None,
        datetime.now(UTC),
        lockout=LOCKOUT,
        address_max_failures=100,
        address_window_seconds=60,
    )
    assert attempt.booking is not None
    return attempt.booking


async def succeed(pool: asyncpg.Pool, booking: int) -> None:
    async with pool.acquire() as connection:
        await repository.settle_password_check(connection, await user_id(pool), booking)


async def user_id(pool: asyncpg.Pool) -> object:
    return await pool.fetchval("SELECT id FROM users")


async def state(pool: asyncpg.Pool) -> tuple[int, bool]:
    row = await pool.fetchrow("SELECT failed_login_count, locked_until IS NOT NULL FROM users")
    assert row is not None
    return row[0], row[1]


async def test_a_lock_set_by_a_later_failure_survives_earlier_successes(
    pool: asyncpg.Pool,
) -> None:
    first, second = await book(pool), await book(pool)  # two right passwords in flight
    await book(pool)  # a wrong guess: the third booking locks the account

    await succeed(pool, first)
    await succeed(pool, second)

    failures, locked = await state(pool)
    assert locked, "the concurrent failure's lock holds"
    assert failures == 1


async def test_successes_settled_out_of_order_leave_no_lock(pool: asyncpg.Pool) -> None:
    bookings = [await book(pool) for _ in range(3)]  # three right passwords; the third locks

    for booking in (bookings[1], bookings[0], bookings[2]):
        await succeed(pool, booking)

    assert await state(pool) == (0, False)
