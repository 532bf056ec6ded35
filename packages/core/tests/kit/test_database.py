"""The per-request transaction that apps use: commit when the handler returns, roll back when
it raises, with no transaction code in handlers; a plain connection to read; a connection of
the shared pool; and a write that PostgreSQL aborted for a conflict run again, bounded."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import pytest
from httpx import ASGITransport, AsyncClient
from litestar import Litestar, Request, get, post
from litestar.datastructures import State
from litestar.di import Provide
from litestar.params import FromPath, JSONBody
from litestar.testing import AsyncTestClient
from psycopg.conninfo import conninfo_to_dict

from atriz_core.errors import ConflictError
from atriz_core.kit.database import (
    Db,
    DbConnection,
    SharedDb,
    database_dependencies,
    pool_lifespan,
    provide_connection,
    provide_transaction,
    transaction_retry,
)
from atriz_core.kit.problems import EXCEPTION_HANDLERS
from atriz_core.testing import serving
from atriz_database.testing import MakeDatabase


@post("/notes/{text:str}")
async def add_note(text: FromPath[str], conn: DbConnection) -> dict[str, int]:
    note_id: int = await conn.fetchval("INSERT INTO notes (body) VALUES ($1) RETURNING id", text)
    if text == "refuse":
        raise ConflictError("refused after writing")  # the insert above must not survive
    await conn.execute("INSERT INTO notes (body) VALUES ($1)", text + " again")
    return {"id": note_id}


@post("/counts")
async def count_as_number(data: JSONBody[dict[str, str]], conn: DbConnection) -> int:
    # asyncpg refuses a str for an int parameter, quoting the str in its error
    count: int = await conn.fetchval("SELECT $1::int", data["count"])
    return count


@pytest.fixture
async def notes_client(empty_database_url: str) -> AsyncIterator[AsyncTestClient[Litestar]]:
    setup = await asyncpg.connect(empty_database_url)
    await setup.execute("CREATE TABLE notes (id serial PRIMARY KEY, body text NOT NULL)")
    await setup.close()
    app = Litestar(
        route_handlers=[add_note, count_as_number],
        dependencies={"conn": Provide(provide_transaction)},
        lifespan=[pool_lifespan("db_pool", empty_database_url)],
        exception_handlers=EXCEPTION_HANDLERS,
    )
    async with AsyncTestClient(app=app) as client:
        yield client


async def bodies(url: str) -> list[str]:
    connection = await asyncpg.connect(url)
    try:
        return [r["body"] for r in await connection.fetch("SELECT body FROM notes ORDER BY id")]
    finally:
        await connection.close()


async def test_a_handler_that_returns_commits(
    notes_client: AsyncTestClient[Litestar], empty_database_url: str
) -> None:
    response = await notes_client.post("/notes/kept")

    assert response.status_code == 201
    assert await bodies(empty_database_url) == ["kept", "kept again"]


async def test_a_handler_that_raises_leaves_nothing(
    notes_client: AsyncTestClient[Litestar], empty_database_url: str
) -> None:
    response = await notes_client.post("/notes/refuse")

    assert response.status_code == 409
    assert response.json()["detail"] == "refused after writing"
    assert await bodies(empty_database_url) == []


async def test_a_database_error_is_logged_without_what_the_query_carried(
    notes_client: AsyncTestClient[Litestar], caplog: pytest.LogCaptureFixture
) -> None:
    secret = "refresh-token-that-must-not-be-logged"

    response = await notes_client.post("/counts", json={"count": secret})

    assert response.status_code == 500
    assert secret not in response.text
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "DataError" in logged
    assert "text withheld" in logged
    assert secret not in logged
    assert not any(record.exc_info for record in caplog.records)


# --- provide_db: a plain connection to read, one transaction to write, retried on conflict ------

BODY_LIMIT = 64 * 1024


def kit_app(
    url: str,
    handlers: list[Any],
    *,
    shared_url: str | None = None,
    dependencies: dict[str, Provide] | None = None,
) -> Litestar:
    """A tiny service wired as `create_service` wires the kit's database parts."""
    lifespans = [pool_lifespan("db_pool", url)]
    if shared_url is not None:
        lifespans.append(pool_lifespan("shared_pool", shared_url))
    return Litestar(
        route_handlers=handlers,
        dependencies=dependencies or database_dependencies(shared=shared_url is not None),
        middleware=[transaction_retry(max_body_bytes=BODY_LIMIT)],
        lifespan=lifespans,
        exception_handlers=EXCEPTION_HANDLERS,
        request_max_body_size=BODY_LIMIT,
    )


@asynccontextmanager
async def client_of(app: Litestar) -> AsyncIterator[AsyncClient]:
    """Requests sent together through this client really overlap (unlike AsyncTestClient)."""
    async with (
        serving(app),
        AsyncClient(transport=ASGITransport(app=app), base_url="http://t") as c,
    ):
        yield c


async def sql(url: str, query: str, *args: Any) -> list[asyncpg.Record]:
    connection = await asyncpg.connect(url)
    try:
        rows: list[asyncpg.Record] = await connection.fetch(query, *args)
    finally:
        await connection.close()
    return rows


@get("/where")
async def where_read(conn: Db) -> dict[str, bool]:
    return {"in_transaction": conn.is_in_transaction()}


@post("/where", status_code=200)
async def where_write(conn: Db) -> dict[str, bool]:
    return {"in_transaction": conn.is_in_transaction()}


@get("/databases")
async def databases(conn: Db, shared_conn: SharedDb) -> dict[str, str]:
    return {
        "own": await conn.fetchval("SELECT current_database()"),
        "shared": await shared_conn.fetchval("SELECT current_database()"),
    }


async def test_reads_get_a_plain_connection_and_writes_a_transaction(
    empty_database_url: str,
) -> None:
    async with client_of(kit_app(empty_database_url, [where_read, where_write])) as client:
        read, write = await client.get("/where"), await client.post("/where")

    assert read.json() == {"in_transaction": False}
    assert write.json() == {"in_transaction": True}


async def test_shared_db_is_a_connection_of_the_shared_pool(make_database: MakeDatabase) -> None:
    own, shared = make_database("own"), make_database("shared")

    async with client_of(kit_app(own, [databases], shared_url=shared)) as client:
        response = await client.get("/databases")

    assert response.json() == {
        "own": conninfo_to_dict(own)["dbname"],
        "shared": conninfo_to_dict(shared)["dbname"],
    }


@dataclass
class Runs:
    """What the handlers under test did, attempt by attempt."""

    bodies: list[dict[str, Any]] = field(default_factory=list)
    barrier: asyncio.Barrier = field(default_factory=lambda: asyncio.Barrier(2))
    cleanups: list[asyncio.Task[None]] = field(default_factory=list)
    leftovers: list[Any] = field(default_factory=list)

    async def meet_on_first_attempts(self) -> None:
        """Hold the first two runs until both got here, so that they collide."""
        if len(self.bodies) <= 2:
            await asyncio.wait_for(self.barrier.wait(), 10)


def conflict_handlers(runs: Runs) -> list[Any]:
    @post("/tickets")
    async def take_ticket(data: JSONBody[dict[str, Any]], conn: Db) -> dict[str, int]:
        runs.bodies.append(data)
        # Write skew: both read the same count, both insert count + 1. SERIALIZABLE lets only
        # one of them commit; the other must run again and take the next number.
        await conn.execute("SET TRANSACTION ISOLATION LEVEL SERIALIZABLE")
        taken: int = await conn.fetchval("SELECT count(*) FROM tickets")
        await runs.meet_on_first_attempts()
        await conn.execute(
            "INSERT INTO tickets (number, holder) VALUES ($1, $2)", taken + 1, data["holder"]
        )
        return {"number": taken + 1}

    @post("/transfers")
    async def transfer(data: JSONBody[dict[str, Any]], conn: Db) -> None:
        runs.bodies.append(data)
        # Opposite lock orders: a deadlock; PostgreSQL aborts one so that the other finishes.
        await conn.execute("SET LOCAL deadlock_timeout = '50ms'")
        first, second = (1, 2) if data["order"] == "ab" else (2, 1)
        await conn.execute("UPDATE accounts SET balance = balance + 1 WHERE id = $1", first)
        await runs.meet_on_first_attempts()
        await conn.execute("UPDATE accounts SET balance = balance + 1 WHERE id = $1", second)

    @post("/always/serialization")
    async def always_stale(
        data: JSONBody[dict[str, Any]], conn: Db, state: State, request: Request[Any, Any, Any]
    ) -> None:
        runs.bodies.append(data)
        # Each attempt starts from the request as it arrived, not as the last attempt left it.
        runs.leftovers.append(request.state.get("touched"))
        request.state.touched = True
        await conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        await conn.fetchval("SELECT balance FROM accounts WHERE id = 1")  # the snapshot
        async with state.db_pool.acquire() as other:  # someone else changes the row...
            await other.execute("UPDATE accounts SET balance = balance + 1 WHERE id = 1")
        # ...so this update of it cannot serialize, every time.
        await conn.execute("UPDATE accounts SET balance = balance + 100 WHERE id = 1")

    @post("/always/deadlock")
    async def always_deadlocks(data: JSONBody[dict[str, Any]], conn: Db, state: State) -> None:
        runs.bodies.append(data)
        # This session checks for deadlocks first, so it is always the one aborted.
        await conn.execute("SET LOCAL deadlock_timeout = '20ms'")
        await conn.execute("UPDATE accounts SET balance = balance + 100 WHERE id = 1")
        other = await state.db_pool.acquire()
        other_tx = other.transaction()
        await other_tx.start()
        await other.execute("UPDATE accounts SET balance = balance + 1 WHERE id = 2")
        waiting = asyncio.create_task(
            other.execute("UPDATE accounts SET balance = balance + 1 WHERE id = 1")
        )
        # Wait until the other session waits for our lock (a state of the server, no event).
        while not await conn.fetchval(  # noqa: ASYNC110
            "SELECT EXISTS (SELECT FROM pg_locks WHERE pid = $1 AND NOT granted)",
            other.get_server_pid(),
        ):
            await asyncio.sleep(0.005)

        async def release_other() -> None:
            # The other session gets its lock once this request's transaction rolls back.
            await waiting
            await other_tx.rollback()
            await state.db_pool.release(other)

        runs.cleanups.append(asyncio.create_task(release_other()))
        await conn.execute("UPDATE accounts SET balance = balance + 100 WHERE id = 2")

    return [take_ticket, transfer, always_stale, always_deadlocks]


@pytest.fixture
async def conflict_url(empty_database_url: str) -> str:
    connection = await asyncpg.connect(empty_database_url)
    await connection.execute(
        "CREATE TABLE tickets (number int NOT NULL, holder text NOT NULL);"
        " CREATE TABLE accounts (id int PRIMARY KEY, balance int NOT NULL);"
        " INSERT INTO accounts VALUES (1, 0), (2, 0)"
    )
    await connection.close()
    return empty_database_url


async def test_colliding_serializable_writes_both_succeed_by_running_again(
    conflict_url: str,
) -> None:
    runs = Runs()
    async with client_of(kit_app(conflict_url, conflict_handlers(runs))) as client:
        first, second = await asyncio.gather(
            client.post("/tickets", json={"holder": "ana"}),
            client.post("/tickets", json={"holder": "bo"}),
        )

    assert (first.status_code, second.status_code) == (201, 201), (first.text, second.text)
    assert sorted([first.json()["number"], second.json()["number"]]) == [1, 2]
    assert len(runs.bodies) >= 3  # one of them ran again...
    assert {b["holder"] for b in runs.bodies[2:]} <= {"ana", "bo"}  # ...with the same body
    rows = await sql(conflict_url, "SELECT number, holder FROM tickets ORDER BY number")
    assert {(r["number"], r["holder"]) for r in rows} == {
        (first.json()["number"], "ana"),
        (second.json()["number"], "bo"),
    }
    assert len(rows) == 2


async def test_deadlocked_writes_both_succeed_by_running_again(conflict_url: str) -> None:
    runs = Runs()
    async with client_of(kit_app(conflict_url, conflict_handlers(runs))) as client:
        responses = await asyncio.gather(
            client.post("/transfers", json={"order": "ab"}),
            client.post("/transfers", json={"order": "ba"}),
        )

    assert [r.status_code for r in responses] == [201, 201], [r.text for r in responses]
    assert len(runs.bodies) == 3
    rows = await sql(conflict_url, "SELECT balance FROM accounts ORDER BY id")
    assert [r["balance"] for r in rows] == [2, 2]


@pytest.mark.parametrize("kind", ["serialization", "deadlock"])
async def test_a_write_that_always_conflicts_ends_in_503_after_three_attempts(
    conflict_url: str, kind: str
) -> None:
    runs = Runs()
    async with client_of(kit_app(conflict_url, conflict_handlers(runs))) as client:
        response = await client.post(f"/always/{kind}", json={"attempt": "same body"})
        await asyncio.gather(*runs.cleanups)

    assert response.status_code == 503, response.text
    assert response.headers["Retry-After"] == "2"
    assert response.headers["content-type"].startswith("application/problem+json")
    assert runs.bodies == [{"attempt": "same body"}] * 3
    assert runs.leftovers in ([None] * 3, [])
    rows = await sql(conflict_url, "SELECT balance FROM accounts ORDER BY id")
    # None of the handler's own writes (+100) survived any attempt.
    assert all(r["balance"] < 100 for r in rows)


async def test_a_handler_that_manages_its_own_transactions_is_never_run_twice(
    conflict_url: str,
) -> None:
    """Core's handlers take a plain connection and commit as they go: running one again after
    a conflict would repeat what it already committed."""
    runs = Runs()

    @post("/own-transactions")
    async def own_transactions(data: JSONBody[dict[str, Any]], conn: Db, state: State) -> None:
        runs.bodies.append(data)
        await conn.execute("INSERT INTO tickets VALUES (0, 'committed at once')")
        async with conn.transaction(isolation="repeatable_read"):
            await conn.fetchval("SELECT balance FROM accounts WHERE id = 1")
            async with state.db_pool.acquire() as other:
                await other.execute("UPDATE accounts SET balance = balance + 1 WHERE id = 1")
            await conn.execute("UPDATE accounts SET balance = balance + 100 WHERE id = 1")

    app = kit_app(
        conflict_url, [own_transactions], dependencies={"conn": Provide(provide_connection)}
    )
    async with client_of(app) as client:
        response = await client.post("/own-transactions", json={"attempt": 1})

    assert response.status_code == 503
    assert response.headers["Retry-After"] == "2"
    assert len(runs.bodies) == 1
    assert len(await sql(conflict_url, "SELECT number FROM tickets")) == 1


async def test_a_body_over_the_limit_is_still_refused(conflict_url: str) -> None:
    runs = Runs()

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(3):
            yield b'{"x": "' + b"a" * BODY_LIMIT + b'"}'

    async with client_of(kit_app(conflict_url, conflict_handlers(runs))) as client:
        declared = await client.post("/tickets", content=b"{}" + b" " * BODY_LIMIT)
        streamed = await client.post("/tickets", content=chunks())

    assert (declared.status_code, streamed.status_code) == (413, 413)
    assert runs.bodies == []


async def test_a_connection_left_mid_operation_by_a_restart_is_a_503(conflict_url: str) -> None:
    """What asyncpg raised in the PostgreSQL-restart fault script, once in a few runs: an
    outage, not a 500."""

    @get("/cut-off")
    async def cut_off(conn: Db) -> None:
        raise asyncpg.InternalClientError(
            "cannot switch to state 12; another operation (2) is in progress"
        )

    async with client_of(kit_app(conflict_url, [cut_off])) as client:
        response = await client.get("/cut-off")

    assert response.status_code == 503
    assert response.headers["Retry-After"] == "2"
