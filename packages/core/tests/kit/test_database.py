"""The per-request transaction that apps use: commit when the handler returns, roll back when
it raises, with no transaction code in handlers."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import pytest
from litestar import Litestar, post
from litestar.di import Provide
from litestar.params import FromPath, JSONBody
from litestar.testing import AsyncTestClient

from atriz_core.errors import ConflictError
from atriz_core.kit.database import DbConnection, pool_lifespan, provide_transaction
from atriz_core.kit.problems import EXCEPTION_HANDLERS


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
