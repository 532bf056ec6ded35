"""User events in a service: applied exactly once across crashes and workers, woken by NOTIFY,
and a revoked user's token refused by a running app within seconds."""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from typing import Any

import asyncpg
import pytest
from httpx import ASGITransport, AsyncClient
from litestar import Litestar, Request, get

from atriz_core.client import (
    AtrizAuth,
    EventCursor,
    Principal,
    Revocations,
    StaticKeys,
    TokenVerifier,
    UserEvent,
)
from atriz_core.client.user_events import RENUMBER_RESTORED_SQL, renumber_restored_events
from atriz_core.kit.database import pool_lifespan
from atriz_core.kit.events import (
    CURSOR_TABLE_SQL,
    REVOCATION_FEED_STATE_KEY,
    Outcome,
    RevocationFeed,
    UserEventConsumer,
    UserEventListener,
    revocation_feed,
    user_event_consumer,
)
from atriz_core.kit.problems import EXCEPTION_HANDLERS
from atriz_core.settings import CoreSettings
from atriz_core.testing import CoreHarness, eventually, running_core, serving
from atriz_database import ConfigurationError, DatabaseSettings, close_pool, create_pool
from atriz_database.testing import MakeDatabase
from atriz_database.urls import with_credentials

POOL = DatabaseSettings(pool_min_size=1, pool_max_size=4, acquire_timeout=5.0)

APPLIED_TABLE = """
CREATE TABLE applied (
    seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_id bigint NOT NULL,
    event_type text NOT NULL,
    worker text NOT NULL
);
"""


@pytest.fixture
async def reader_url(core_database_url: str) -> AsyncIterator[str]:
    """`atriz_shared` as an app reads it: a login whose only rights are atriz_app_reader's."""
    name, password = f"atriz_test_app_{uuid.uuid4().hex[:8]}", secrets.token_hex(16)
    admin = await asyncpg.connect(core_database_url)
    try:
        await admin.execute(
            f"CREATE ROLE \"{name}\" LOGIN PASSWORD '{password}' IN ROLE atriz_app_reader"
        )
        yield with_credentials(core_database_url, name, password)
        # The test's pools are closed by now; a lingering backend would block the DROP.
        await admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1", name
        )
        await admin.execute(f'DROP ROLE "{name}"')
    finally:
        await admin.close()


@pytest.fixture
async def app_database_url(make_database: MakeDatabase) -> str:
    """A tiny app database: the cursor table (as an app's migration holds it) and a table the
    handler writes to."""
    url = make_database("app")
    connection = await asyncpg.connect(url)
    try:
        await connection.execute(CURSOR_TABLE_SQL + APPLIED_TABLE)
    finally:
        await connection.close()
    return url


@pytest.fixture
async def pools(
    app_database_url: str, reader_url: str
) -> AsyncIterator[Callable[[], Awaitable[tuple[asyncpg.Pool, asyncpg.Pool]]]]:
    """Makes (own pool, shared pool) pairs, as each worker process has its own."""
    opened: list[asyncpg.Pool] = []

    async def make() -> tuple[asyncpg.Pool, asyncpg.Pool]:
        own = await create_pool(app_database_url, POOL)
        shared = await create_pool(reader_url, POOL)
        opened.extend((own, shared))
        return own, shared

    yield make
    for pool in opened:
        await close_pool(pool)


async def new_users(url: str, count: int) -> list[uuid.UUID]:
    connection = await asyncpg.connect(url)
    try:
        rows = await connection.fetch(
            "INSERT INTO users (email, password_hash, name)"
            " SELECT 'u' || n || '-' || $2 || '@example.test', 'not a hash', 'U'"
            " FROM generate_series(1, $1) n RETURNING id",
            count,
            uuid.uuid4().hex[:6],
        )
    finally:
        await connection.close()
    return [row["id"] for row in rows]


async def record_events(url: str, user_ids: list[uuid.UUID], event_type: str = "deleted") -> None:
    """As core records them: in one transaction (the trigger notifies at its commit)."""
    connection = await asyncpg.connect(url)
    try:
        async with connection.transaction():
            for user_id in user_ids:
                await connection.execute(
                    "INSERT INTO user_events (user_id, event_type) VALUES ($1, $2)",
                    user_id,
                    event_type,
                )
    finally:
        await connection.close()


def recording(worker: str) -> Callable[[asyncpg.Connection, UserEvent], Awaitable[None]]:
    """A handler that records each event it applies, in the app's transaction."""

    async def handler(connection: asyncpg.Connection, event: UserEvent) -> None:
        await connection.execute(
            "INSERT INTO applied (event_id, event_type, worker) VALUES ($1, $2, $3)",
            event.id,
            event.event_type,
            worker,
        )

    return handler


async def applied_ids(url: str) -> list[int]:
    connection = await asyncpg.connect(url)
    try:
        rows = await connection.fetch("SELECT event_id FROM applied ORDER BY seq")
    finally:
        await connection.close()
    return [row["event_id"] for row in rows]


async def event_ids(url: str) -> list[int]:
    connection = await asyncpg.connect(url)
    try:
        rows = await connection.fetch("SELECT id FROM user_events ORDER BY txid, id")
    finally:
        await connection.close()
    return [row["id"] for row in rows]


async def next_round(consumer: UserEventConsumer) -> Outcome:
    """The consumer's next round that is not `PENDING`: other tests on the server may hold a
    transaction open that the new events must wait for."""
    for _ in range(200):
        outcome = await consumer.step()
        if outcome is not Outcome.PENDING:
            return outcome
        await asyncio.sleep(0.05)
    pytest.fail("the events stayed pending for 10 s")


async def test_a_crash_between_the_handler_and_the_commit_applies_nothing_twice(
    core_database_url: str, app_database_url: str, pools: Any
) -> None:
    own, shared = await pools()
    await record_events(core_database_url, await new_users(core_database_url, 3))
    crash = True
    admin = await asyncpg.connect(app_database_url)

    async def crashing(connection: asyncpg.Connection, event: UserEvent) -> None:
        await recording("w1")(connection, event)
        if crash:
            # The worker dies after the handler's writes, before the commit: its connection,
            # and the transaction with it, go away (waiting until the backend is gone).
            await admin.execute(
                "SELECT pg_terminate_backend($1, 5000)", connection.get_server_pid()
            )

    consumer = UserEventConsumer(crashing, name="app", own_pool=own, shared_pool=shared)
    await consumer.ensure_cursor()
    with pytest.raises((asyncpg.PostgresError, asyncpg.InterfaceError, ConnectionError)):
        await next_round(consumer)
    await admin.close()

    assert await applied_ids(app_database_url) == []
    assert await consumer.stored_cursor() == EventCursor()
    crash = False
    assert await next_round(consumer) is Outcome.APPLIED
    assert await next_round(consumer) is Outcome.DRAINED
    assert await applied_ids(app_database_url) == await event_ids(core_database_url)
    assert consumer.applied == 3


async def test_a_failing_handler_rolls_the_batch_back_and_the_loop_retries(
    core_database_url: str, app_database_url: str, pools: Any
) -> None:
    own, shared = await pools()
    await record_events(core_database_url, await new_users(core_database_url, 3))
    calls = 0

    async def failing_once(connection: asyncpg.Connection, event: UserEvent) -> None:
        nonlocal calls
        calls += 1
        await recording("w1")(connection, event)
        if calls == 2:
            raise RuntimeError("the app's policy failed")

    consumer = UserEventConsumer(
        failing_once, name="app", own_pool=own, shared_pool=shared, poll_interval=30.0
    )
    await consumer.ensure_cursor()
    async with consumer.following(None):
        await eventually(lambda: _true(consumer.applied == 3), 5.0)

    assert consumer.failures == 1
    assert await applied_ids(app_database_url) == await event_ids(core_database_url)


async def _true(value: bool) -> bool:
    return value


async def test_two_workers_apply_each_of_200_events_exactly_once(
    core_database_url: str, app_database_url: str, pools: Any
) -> None:
    users = await new_users(core_database_url, 200)
    consumers = []
    async with AsyncExitStack() as stack:
        for worker in ("w1", "w2"):
            own, shared = await pools()

            async def slow(
                connection: asyncpg.Connection, event: UserEvent, worker: str = worker
            ) -> None:
                await recording(worker)(connection, event)
                await asyncio.sleep(0.002)  # so that the two workers' rounds overlap

            consumer = UserEventConsumer(
                slow, name="app", own_pool=own, shared_pool=shared, batch_size=10
            )
            await consumer.ensure_cursor()
            listener = await stack.enter_async_context(UserEventListener(shared).in_use())
            await stack.enter_async_context(consumer.following(listener))
            consumers.append(consumer)
        # Core records them meanwhile, in 20 transactions committing in any order.
        await asyncio.gather(
            *(record_events(core_database_url, users[n : n + 10]) for n in range(0, len(users), 10))
        )
        await eventually(lambda: _true(sum(c.applied for c in consumers) >= 200), 30.0)
        await asyncio.sleep(0.3)  # time for a duplicate to show, were there one

    applied = await applied_ids(app_database_url)
    assert sorted(applied) == sorted(await event_ids(core_database_url))
    assert len(applied) == len(set(applied)) == 200
    assert sum(c.applied for c in consumers) == 200


async def test_notify_wakes_the_consumer_long_before_its_poll(
    core_database_url: str, app_database_url: str, pools: Any
) -> None:
    own, shared = await pools()
    consumer = UserEventConsumer(
        recording("w1"), name="app", own_pool=own, shared_pool=shared, poll_interval=30.0
    )
    await consumer.ensure_cursor()
    listener = UserEventListener(shared)
    async with listener.in_use(), consumer.following(listener):
        await eventually(lambda: _true(listener.connected), 5.0)
        await asyncio.sleep(0.3)  # the round at start is over: the consumer waits 30 s now
        await record_events(core_database_url, await new_users(core_database_url, 1))
        took = await eventually(lambda: _true(consumer.applied == 1), 2.0)

        # The listening connection is lost (a server restart, a proxy): it comes back, and
        # notifications wake the consumer again.
        admin = await asyncpg.connect(core_database_url)
        try:
            await admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = current_database() AND query LIKE 'LISTEN%'"
            )
        finally:
            await admin.close()
        await eventually(lambda: _true(listener.connections == 2), 5.0)
        await asyncio.sleep(0.3)
        await record_events(core_database_url, await new_users(core_database_url, 1))
        await eventually(lambda: _true(consumer.applied == 2), 2.0)

    assert took < 2.0
    assert consumer.lag_seconds == 0.0


async def test_a_service_without_the_cursor_table_fails_to_start_saying_why(
    make_database: MakeDatabase, reader_url: str
) -> None:
    async def ignore(connection: asyncpg.Connection, event: UserEvent) -> None:
        pass

    app = Litestar(
        lifespan=[
            pool_lifespan("db_pool", make_database("bare"), POOL),
            pool_lifespan("shared_pool", reader_url, POOL),
            user_event_consumer(ignore, name="bare"),
        ]
    )
    with pytest.raises(ExceptionGroup) as failure:  # Litestar's start-up runs in a task group
        async with serving(app):
            pass
    assert failure.group_contains(ConfigurationError, match="CURSOR_TABLE_SQL")


@get("/whoami")
async def whoami(request: Request[Principal, Any, Any]) -> dict[str, str]:
    return {"user": str(request.user.id)}


async def revoking_app(core: CoreHarness, reader_url: str, app_database_url: str) -> Litestar:
    """An app as the kit builds it: core's tokens (its published keys) checked against the
    revocations, which the revocation feed keeps, and the consumer applying the same events."""
    jwks = (await core.client.get("/.well-known/jwks.json")).json()
    revocations = Revocations()
    verifier = TokenVerifier(
        StaticKeys(jwks), issuer=core.settings.issuer, audience="mextrack", revocations=revocations
    )
    return Litestar(
        route_handlers=[whoami],
        plugins=[AtrizAuth(verifier)],
        exception_handlers=EXCEPTION_HANDLERS,
        lifespan=[
            pool_lifespan("db_pool", app_database_url, POOL),
            pool_lifespan("shared_pool", reader_url, POOL),
            revocation_feed(revocations),
            user_event_consumer(recording("app"), name="mextrack"),
        ],
    )


async def refused_within(client: AsyncClient, token: str, seconds: float) -> float:
    headers = {"Authorization": f"Bearer {token}"}

    async def refused() -> bool:
        response = await client.get("/whoami", headers=headers)
        assert response.status_code in (200, 401), response.text
        return response.status_code == 401

    took = await eventually(refused, seconds)
    assert await revoked(client, token)
    return took


async def revoked(client: AsyncClient, token: str) -> bool:
    """Refused as revoked (401 saying so), rather than for anything else."""
    response = await client.get("/whoami", headers={"Authorization": f"Bearer {token}"})
    return response.status_code == 401 and response.json()["detail"].startswith(
        "invalid access token: the token was revoked"
    )


async def accepted(client: AsyncClient, token: str) -> bool:
    response = await client.get("/whoami", headers={"Authorization": f"Bearer {token}"})
    return response.status_code == 200


async def test_a_running_app_refuses_a_revoked_users_token_within_seconds(
    core_settings: CoreSettings, reader_url: str, app_database_url: str
) -> None:
    async with running_core(core_settings) as core:
        app = await revoking_app(core, reader_url, app_database_url)
        async with (
            serving(app),
            AsyncClient(transport=ASGITransport(app=app), base_url="http://app.test") as client,
        ):
            await revoked_within_seconds(core, app, client)


async def revoked_within_seconds(core: CoreHarness, app: Litestar, client: AsyncClient) -> None:
    """Deactivation, then logout everywhere: each refused within 5 s; new sign-ins work."""
    admin = await core.admin_headers()
    user = await core.register()
    token = (await core.login())["access_token"]
    assert await accepted(client, token)

    deactivated = await core.client.post(f"/admin/users/{user['id']}/deactivate", headers=admin)
    assert deactivated.status_code == 204
    assert await refused_within(client, token, 5.0) < 5.0

    # Back: a new sign-in works (core's clock moved on), the old token stays refused.
    assert (await reactivate(core, user["id"], admin)).status_code == 204
    core.clock.advance(1)
    session = await core.login()
    assert await accepted(client, session["access_token"])
    assert not await accepted(client, token)

    # Logout everywhere, from that new session: its own token goes too.
    bearer = CoreHarness.bearer(session)
    assert (await core.client.post("/auth/logout-all", headers=bearer)).is_success
    assert await refused_within(client, session["access_token"], 5.0) < 5.0
    core.clock.advance(1)
    assert await accepted(client, (await core.login())["access_token"])

    feed = app.state[REVOCATION_FEED_STATE_KEY]
    assert feed.revocations_known == 1
    assert feed.failures == 0


async def reactivate(core: CoreHarness, user_id: str, admin: dict[str, str]) -> Any:
    return await core.client.post(f"/admin/users/{user_id}/reactivate", headers=admin)


async def test_a_restarted_worker_knows_the_revocations_of_the_last_minutes(
    core_settings: CoreSettings, reader_url: str, app_database_url: str
) -> None:
    async with running_core(core_settings) as core:
        admin = await core.admin_headers()
        user = await core.register()
        token = (await core.login())["access_token"]
        deactivated = await core.client.post(f"/admin/users/{user['id']}/deactivate", headers=admin)
        assert deactivated.status_code == 204
        # A worker started after the event refuses the token from its first request.
        app = await revoking_app(core, reader_url, app_database_url)

    async with (
        serving(app),
        AsyncClient(transport=ASGITransport(app=app), base_url="http://app.test") as client,
    ):
        assert await revoked(client, token)
        # Its consumer applied the same event, once, in the app's database.
        await eventually(
            lambda: _true(app.state["user_event_consumers"]["mextrack"].applied > 0), 5
        )
    assert len(await applied_ids(app_database_url)) == 1


async def test_the_feed_starts_at_the_horizon_and_forgets_what_expired(
    core_database_url: str, reader_url: str
) -> None:
    old_user, recent_user = await new_users(core_database_url, 2)
    connection = await asyncpg.connect(core_database_url)
    try:
        await connection.execute(
            "INSERT INTO user_events (user_id, event_type, created_at)"
            " VALUES ($1, 'sessions_revoked', now() - interval '20 minutes'),"
            " ($2, 'sessions_revoked', now() - interval '1 minute')",
            old_user,
            recent_user,
        )
    finally:
        await connection.close()
    shared = await create_pool(reader_url, POOL)
    now = [time.time()]
    try:
        revocations = Revocations(clock=lambda: now[0])
        feed = RevocationFeed(revocations, shared_pool=shared, clock=lambda: now[0])
        await feed.catch_up()
    finally:
        await close_pool(shared)

    assert revocations.not_before(old_user) is None
    assert revocations.not_before(recent_user) is not None
    now[0] += 16 * 60
    assert revocations.forget_expired() == 1
    assert revocations.not_before(recent_user) is None


async def test_a_long_transaction_holds_the_consumer_back_but_not_the_revocations(
    core_database_url: str, pools: Any
) -> None:
    own, shared = await pools()
    (user,) = await new_users(core_database_url, 1)
    consumer = UserEventConsumer(recording("w1"), name="app", own_pool=own, shared_pool=shared)
    await consumer.ensure_cursor()
    revocations = Revocations()
    feed = RevocationFeed(revocations, shared_pool=shared)
    long = await asyncpg.connect(core_database_url)
    transaction = long.transaction()
    await transaction.start()
    try:
        # A transaction of core's (or of anyone's on the server) that started first and has
        # not ended: it may yet record an event that sorts before the next one.
        await long.fetchval("SELECT pg_current_xact_id()")
        await record_events(core_database_url, [user], "sessions_revoked")

        assert await consumer.step() is Outcome.PENDING
        await feed.catch_up()
        assert revocations.not_before(user) is not None
    finally:
        await transaction.rollback()
        await long.close()
    assert await next_round(consumer) is Outcome.APPLIED
    assert consumer.applied == 1


async def _far_ahead(url: str) -> int:
    """A transaction id this server will not reach for a long time: what a cursor taken on
    the server atriz_shared was on before a restore from a dump looks like."""
    connection = await asyncpg.connect(url)
    try:
        now = await connection.fetchval("SELECT pg_snapshot_xmax(pg_current_snapshot())::text")
    finally:
        await connection.close()
    return int(now) + 10**9


async def test_a_consumer_whose_cursor_came_from_another_server_goes_on_with_this_ones(
    core_database_url: str, app_database_url: str, pools: Any
) -> None:
    """atriz_shared restored onto a new server numbers its transactions from low again: every
    new event sorted before the app's cursor, and a deletion was never applied."""
    own, shared = await pools()
    consumer = UserEventConsumer(recording("w1"), name="app", own_pool=own, shared_pool=shared)
    await consumer.ensure_cursor()
    await own.execute(
        "UPDATE user_event_cursor SET txid = $1, event_id = 5 WHERE consumer = 'app'",
        await _far_ahead(core_database_url),
    )
    await record_events(core_database_url, await new_users(core_database_url, 2))

    while await next_round(consumer) is Outcome.APPLIED:
        pass

    assert await applied_ids(app_database_url) == await event_ids(core_database_url)
    assert (await consumer.stored_cursor()).txid < await _far_ahead(core_database_url) - 10**9


async def test_a_feed_whose_cursor_came_from_another_server_goes_on_with_this_ones(
    core_database_url: str, reader_url: str
) -> None:
    (user,) = await new_users(core_database_url, 1)
    shared = await create_pool(reader_url, POOL)
    try:
        revocations = Revocations()
        feed = RevocationFeed(revocations, shared_pool=shared)
        feed.cursor = EventCursor(await _far_ahead(core_database_url), 5)
        await record_events(core_database_url, [user], "sessions_revoked")

        await feed.catch_up()
    finally:
        await close_pool(shared)

    assert revocations.not_before(user) is not None


async def test_core_renumbers_the_events_restored_from_another_server_as_it_starts(
    core_settings: CoreSettings, core_database_url: str
) -> None:
    """Restored by hand, with the ids of the server they were recorded on, they stayed hidden
    from every reader until this server's ids passed theirs."""
    (user,) = await new_users(core_database_url, 1)
    far = await _far_ahead(core_database_url)
    connection = await asyncpg.connect(core_database_url)
    try:
        restored = await connection.fetchval(
            "INSERT INTO user_events (user_id, event_type, txid)"
            " VALUES ($1, 'deleted', $2::text::xid8) RETURNING id",
            user,
            str(far),
        )
        async with running_core(core_settings):
            pass
        txid = int(
            await connection.fetchval("SELECT txid::text FROM user_events WHERE id = $1", restored)
        )
    finally:
        await connection.close()

    assert 0 < txid < far - 10**8  # one of this server's, no longer the old server's


async def test_a_fresh_feed_on_a_quiet_server_reads_nothing_before_its_horizon(
    core_database_url: str, reader_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """It starts at the oldest running transaction, which on a quiet server is the next one to
    be given: not a cursor from another server, which is past it."""
    users = await new_users(core_database_url, 20)
    connection = await asyncpg.connect(core_database_url)
    try:
        await connection.execute(
            "INSERT INTO user_events (user_id, event_type, created_at) SELECT id,"
            " 'sessions_revoked', now() - interval '3 days' FROM unnest($1::uuid[]) id",
            users,
        )
    finally:
        await connection.close()
    shared = await create_pool(reader_url, POOL)
    try:
        feed = RevocationFeed(Revocations(), shared_pool=shared)
        with caplog.at_level(logging.WARNING):
            await feed.catch_up()
    finally:
        await close_pool(shared)

    assert "another server" not in caplog.text
    assert feed.applied == 0


async def test_after_a_restore_every_restored_event_is_applied_again_in_order(
    core_database_url: str, app_database_url: str, pools: Any
) -> None:
    """On the old server an event (a) could still be pending, behind a running transaction,
    while one made after it (b) was applied: the app's cursor was (b's transaction, b). Going on
    from b's id would skip a for good; the app starts again from the first event instead. It
    waits while the restored events are not numbered yet."""
    own, shared = await pools()
    first, second = await new_users(core_database_url, 2)
    far = await _far_ahead(core_database_url)
    connection = await asyncpg.connect(core_database_url)
    try:
        insert = (
            "INSERT INTO user_events (user_id, event_type, txid)"
            " VALUES ($1, 'deleted', $2::text::xid8) RETURNING id"
        )
        a = await connection.fetchval(insert, first, str(far + 10))
        b = await connection.fetchval(insert, second, str(far + 5))
        consumer = UserEventConsumer(recording("w1"), name="app", own_pool=own, shared_pool=shared)
        await consumer.ensure_cursor()
        await own.execute(
            "UPDATE user_event_cursor SET txid = $1, event_id = $2 WHERE consumer = 'app'",
            far + 5,
            b,
        )

        assert await consumer.step() is Outcome.PENDING  # not numbered yet: nothing skipped
        await connection.execute(RENUMBER_RESTORED_SQL)  # as db-restore does
        while await next_round(consumer) is Outcome.APPLIED:
            pass
    finally:
        await connection.close()

    assert await applied_ids(app_database_url) == [a, b]


async def test_a_restore_on_the_same_server_keeps_every_event_in_its_place(
    core_database_url: str, app_database_url: str, pools: Any
) -> None:
    """Restored where it was dumped (after a bad migration, say), an event the app had not
    applied yet must still come after the app's cursor: numbering every restored event 0, as
    db-restore once did, put it behind for good."""
    own, shared = await pools()
    first, second = await new_users(core_database_url, 2)
    consumer = UserEventConsumer(recording("w1"), name="app", own_pool=own, shared_pool=shared)
    await consumer.ensure_cursor()
    await record_events(core_database_url, [first])
    while await next_round(consumer) is Outcome.APPLIED:
        pass
    await record_events(core_database_url, [second])  # pending when the dump was taken
    connection = await asyncpg.connect(core_database_url)
    try:
        await connection.execute(RENUMBER_RESTORED_SQL)  # as db-restore does
    finally:
        await connection.close()

    while await next_round(consumer) is Outcome.APPLIED:
        pass

    assert await applied_ids(app_database_url) == await event_ids(core_database_url)


async def test_two_core_processes_starting_at_once_renumber_the_restored_events_once(
    core_database_url: str,
) -> None:
    """The second one's UPDATE waited on the first's rows, then moved them again, after events
    recorded in between: an app applied them twice, the second time after a newer event."""
    (user,) = await new_users(core_database_url, 1)
    far = await _far_ahead(core_database_url)
    first = await asyncpg.connect(core_database_url)
    second = await asyncpg.connect(core_database_url)
    try:
        await first.execute(
            "INSERT INTO user_events (user_id, event_type, txid)"
            " VALUES ($1, 'deleted', $2::text::xid8)",
            user,
            str(far),
        )
        transaction = first.transaction()
        await transaction.start()
        moved = await renumber_restored_events(first)
        starting = asyncio.create_task(renumber_restored_events(second))
        await eventually(lambda: _waits_on_a_lock(first), 5)
        await transaction.commit()
        moved_again = await starting
    finally:
        await first.close()
        await second.close()

    assert (moved, moved_again) == (1, 0)


async def _waits_on_a_lock(connection: asyncpg.Connection) -> bool:
    waiting: bool = await connection.fetchval(
        "SELECT count(*) > 0 FROM pg_locks WHERE NOT granted AND pid <> pg_backend_pid()"
    )
    return waiting
