"""Apps read `user_events` with a cursor and never miss an event, whatever order core's
transactions commit in."""

from __future__ import annotations

import asyncio
import random
import uuid

import asyncpg
import pytest

from atriz_core.client import EventCursor, UserEvent, read_user_events
from atriz_core.testing import CoreHarness


async def new_users(url: str, count: int) -> list[uuid.UUID]:
    connection = await asyncpg.connect(url)
    try:
        rows = await connection.fetch(
            "INSERT INTO users (email, password_hash, name)"
            " SELECT 'u' || n || '@example.test', 'not a hash', 'U' FROM generate_series(1, $1) n"
            " RETURNING id",
            count,
        )
    finally:
        await connection.close()
    return [row["id"] for row in rows]


async def insert_event(connection: asyncpg.Connection, user_id: uuid.UUID) -> int:
    event_id: int = await connection.fetchval(
        "INSERT INTO user_events (user_id, event_type) VALUES ($1, 'deactivated') RETURNING id",
        user_id,
    )
    return event_id


async def drain(reader: asyncpg.Connection, cursor: EventCursor) -> list[UserEvent]:
    events: list[UserEvent] = []
    while batch := await read_user_events(reader, cursor, limit=7):
        events += batch
        cursor = batch[-1].cursor
    return events


async def test_admin_actions_reach_the_apps_in_order(
    core_harness: CoreHarness, app_reader: asyncpg.Connection
) -> None:
    headers = await core_harness.admin_headers()
    ana = uuid.UUID((await core_harness.register())["id"])
    for action in ("deactivate", "reactivate"):
        response = await core_harness.client.post(f"/admin/users/{ana}/{action}", headers=headers)
        assert response.status_code == 204
    assert (await core_harness.client.delete(f"/admin/users/{ana}", headers=headers)).is_success

    events = await read_user_events(app_reader, EventCursor())
    after_last = await read_user_events(app_reader, events[-1].cursor)

    assert [(e.user_id, e.event_type) for e in events] == [
        (ana, "deactivated"),
        (ana, "reactivated"),
        (ana, "deleted"),
    ]
    assert after_last == []


async def test_an_event_committed_late_with_a_smaller_id_is_not_skipped(
    core_database_url: str, app_reader: asyncpg.Connection
) -> None:
    early, late = await new_users(core_database_url, 2)
    slow = await asyncpg.connect(core_database_url)
    fast = await asyncpg.connect(core_database_url)
    try:
        slow_transaction = slow.transaction()
        await slow_transaction.start()
        slow_id = await insert_event(slow, early)  # the smaller id, not committed yet
        fast_id = await insert_event(fast, late)  # committed at once
        assert slow_id < fast_id

        # A cursor on the id alone would take the fast event now and never see the slow one.
        while_slow_is_open = await read_user_events(app_reader, EventCursor())
        await slow_transaction.commit()
        afterwards = await read_user_events(app_reader, EventCursor())
    finally:
        await slow.close()
        await fast.close()

    assert while_slow_is_open == []
    assert [e.id for e in afterwards] == [slow_id, fast_id]


@pytest.mark.slow
async def test_a_reader_polling_beside_concurrent_writers_gets_every_event_once(
    core_database_url: str, app_reader: asyncpg.Connection
) -> None:
    users = await new_users(core_database_url, 8)
    written: list[int] = []

    async def writer(user_id: uuid.UUID) -> None:
        connection = await asyncpg.connect(core_database_url)
        try:
            for _ in range(10):
                async with connection.transaction():
                    event_id = await insert_event(connection, user_id)
                    await asyncio.sleep(random.uniform(0, 0.01))  # noqa: S311 - test jitter
                written.append(event_id)
        finally:
            await connection.close()

    seen: list[UserEvent] = []
    cursor = EventCursor()
    writers = asyncio.gather(*(writer(user_id) for user_id in users))
    while not writers.done():
        batch = await read_user_events(app_reader, cursor, limit=3)
        seen += batch
        cursor = batch[-1].cursor if batch else cursor
        await asyncio.sleep(0.002)
    await writers
    seen += await drain(app_reader, cursor)

    assert len(written) == 80
    assert sorted(e.id for e in seen) == sorted(written)  # each once, none missing
