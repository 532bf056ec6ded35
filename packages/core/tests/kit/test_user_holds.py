"""Holds on users (`hold_users`, `hold_for_events`): writes naming one user never wait for each
other, and the consumer, which waits for them, never deadlocks with one."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable

import asyncpg

from atriz_core.client import UserEvent
from atriz_core.client.users import hold_users
from atriz_core.kit.events import CURSOR_TABLE_SQL, UserEventConsumer
from atriz_core.testing import eventually
from atriz_database import DatabaseSettings, close_pool, create_pool
from atriz_database.testing import MakeDatabase

POOL = DatabaseSettings(pool_min_size=1, pool_max_size=4, acquire_timeout=5.0)
_WAITING = "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"


async def new_users(core: asyncpg.Connection, count: int) -> list[uuid.UUID]:
    rows = await core.fetch(
        "INSERT INTO users (email, password_hash, name) SELECT 'h' || n || '-' || $2"
        " || '@example.test', 'x', 'U' FROM generate_series(1, $1) n RETURNING id",
        count,
        uuid.uuid4().hex[:6],
    )
    return sorted(row["id"] for row in rows)


async def test_two_writes_naming_one_user_do_not_wait_for_each_other(
    core_database_url: str, make_database: MakeDatabase
) -> None:
    """Two tills of one cashier, two drafts of one author: an exclusive hold made them queue,
    and past the lock timeout fail."""
    app_url = make_database("app")
    core = await asyncpg.connect(core_database_url)
    first, second = await asyncpg.connect(app_url), await asyncpg.connect(app_url)
    try:
        (user,) = await new_users(core, 1)
        async with first.transaction():
            await hold_users(first, core, [], signed_in=user)
            async with second.transaction():
                await asyncio.wait_for(hold_users(second, core, [user]), 2)
    finally:
        for connection in (first, second, core):
            await connection.close()


async def test_the_consumer_and_a_write_naming_two_users_do_not_deadlock(
    core_database_url: str, make_database: MakeDatabase
) -> None:
    """A batch [high, low] held one user per event as it applied them, the write [low, high]
    in id order: each waited for the other (PostgreSQL then killed one)."""
    app_url = make_database("app")
    core = await asyncpg.connect(core_database_url)
    setup = await asyncpg.connect(app_url)
    await setup.execute(CURSOR_TABLE_SQL)
    own, shared = await create_pool(app_url, POOL), await create_pool(core_database_url, POOL)
    writer = await asyncpg.connect(app_url)
    try:
        low, high = await new_users(core, 2)
        async with core.transaction():
            for user in (high, low):
                await core.execute(
                    "INSERT INTO user_events (user_id, event_type) VALUES ($1, 'roles_changed')",
                    user,
                )
        in_batch, go_on = asyncio.Event(), asyncio.Event()

        async def handler(connection: asyncpg.Connection, event: UserEvent) -> None:
            if event.user_id == high:
                in_batch.set()
                await go_on.wait()

        consumer = UserEventConsumer(handler, name="app", own_pool=own, shared_pool=shared)
        await consumer.ensure_cursor()

        async def consume() -> None:
            while not consumer.applied:
                await consumer.step()
                await asyncio.sleep(0.05)

        async def sale() -> None:
            async with writer.transaction():
                await hold_users(writer, core, [high], field="customer_id", signed_in=low)

        consuming = asyncio.create_task(consume())
        await asyncio.wait_for(in_batch.wait(), 10)
        selling = asyncio.create_task(sale())
        await eventually(lambda: _positive(setup.fetchval(_WAITING)))  # the sale waits
        go_on.set()
        results = await asyncio.wait_for(
            asyncio.gather(selling, consuming, return_exceptions=True), 10
        )
    finally:
        await close_pool(own)
        await close_pool(shared)
        for connection in (writer, setup, core):
            await connection.close()

    assert results == [None, None]


async def _positive(count: Awaitable[int]) -> bool:
    return await count > 0
