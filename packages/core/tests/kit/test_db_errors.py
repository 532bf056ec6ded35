"""Constraint violations answered once for every service: 409 for a duplicate, 422 for a
reference to nothing, a value outside a CHECK or a missing value, naming the field from the
schema and never repeating the value, in the response or in the log."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest
from httpx import ASGITransport, AsyncClient
from litestar import Litestar, delete, post
from litestar.params import FromPath, JSONBody

from atriz_core.kit.database import (
    Db,
    SharedDb,
    database_dependencies,
    pool_lifespan,
    transaction_retry,
)
from atriz_core.kit.problems import EXCEPTION_HANDLERS
from atriz_core.testing import serving

# The values the requests carry; none may come back in a response or a log line.
SECRET = "ana.secret.value@example.org"
SCHEMA = """
CREATE TABLE owners (id int PRIMARY KEY);
INSERT INTO owners VALUES (1);
CREATE TABLE products (
    id int PRIMARY KEY,
    owner_id int REFERENCES owners (id),
    sku text NOT NULL UNIQUE,
    email text,
    "Display Name" text UNIQUE,
    price int NOT NULL DEFAULT 1 CHECK (price >= 0),
    unit_price int CONSTRAINT products_unit_price_positive CHECK (unit_price > 0),
    shelf text,
    slot int,
    CONSTRAINT products_shelf_slot_key UNIQUE (shelf, slot),
    CONSTRAINT sane_price CHECK (price < 1000000)
);
CREATE UNIQUE INDEX products_email_lower ON products (lower(email));
CREATE TABLE reviews (product_id int NOT NULL REFERENCES products (id));
CREATE TABLE codes (
    code text,
    CONSTRAINT codes_code_key UNIQUE (code) DEFERRABLE INITIALLY DEFERRED
);
"""
COLUMNS = ("id", "owner_id", "sku", "email", "Display Name", "price", "unit_price", "shelf", "slot")


@post("/products")
async def create_product(data: JSONBody[dict[str, Any]], conn: Db) -> None:
    """Inserts what it is given: the database's constraints are the only checks."""
    names = [name for name in COLUMNS if name in data]
    columns = ", ".join(f'"{name}"' for name in names)
    marks = ", ".join(f"${i}" for i in range(1, len(names) + 1))
    await conn.execute(
        f"INSERT INTO products ({columns}) VALUES ({marks})",
        *(data[name] for name in names),
    )


@delete("/products/{product_id:int}")
async def delete_product(product_id: FromPath[int], conn: Db) -> None:
    await conn.execute("DELETE FROM products WHERE id = $1", product_id)


@post("/codes")
async def create_code(data: JSONBody[dict[str, str]], conn: Db, shared_conn: SharedDb) -> None:
    """Two connections (so two dependencies to close), and a unique key checked at COMMIT."""
    await shared_conn.fetchval("SELECT 1")
    await conn.execute("INSERT INTO codes (code) VALUES ($1)", data["code"])


@pytest.fixture
async def client(empty_database_url: str) -> AsyncIterator[AsyncClient]:
    setup = await asyncpg.connect(empty_database_url)
    await setup.execute(SCHEMA)
    await setup.execute(
        'INSERT INTO products (id, sku, email, "Display Name", shelf, slot)'
        " VALUES (1, $1, $1, $1, 'A', 1)",
        SECRET,
    )
    await setup.execute("INSERT INTO reviews VALUES (1)")
    await setup.execute("INSERT INTO codes VALUES ($1)", SECRET)
    await setup.close()
    app = Litestar(
        route_handlers=[create_product, delete_product, create_code],
        dependencies=database_dependencies(shared=True),
        middleware=[transaction_retry(max_body_bytes=64 * 1024)],
        lifespan=[
            pool_lifespan("db_pool", empty_database_url),
            pool_lifespan("shared_pool", empty_database_url),
        ],
        exception_handlers=EXCEPTION_HANDLERS,
    )
    transport = ASGITransport(app=app)
    async with serving(app), AsyncClient(transport=transport, base_url="http://t") as http:
        yield http


def new(**fields: Any) -> dict[str, Any]:
    return {"id": 2, "sku": "fresh-sku", **fields}


@pytest.mark.parametrize(
    ("request_body", "status", "errors"),
    [
        pytest.param(new(sku=SECRET), 409, [("sku", "is already in use")], id="unique column"),
        pytest.param(
            new(email=SECRET.upper()), 409, [("email", "is already in use")], id="unique lower()"
        ),
        pytest.param(
            new(**{"Display Name": SECRET}),
            409,
            [("Display Name", "is already in use")],
            id="unique quoted column",
        ),
        pytest.param(
            new(shelf="A", slot=1),
            409,
            [
                ("shelf", "this combination of shelf, slot is already in use"),
                ("slot", "this combination of shelf, slot is already in use"),
            ],
            id="unique pair",
        ),
        pytest.param(new(id=1), 409, [("id", "is already in use")], id="primary key"),
        pytest.param(
            new(owner_id=424242),
            422,
            [("owner_id", "refers to a record that does not exist")],
            id="foreign key",
        ),
        pytest.param(new(price=-424242), 422, [("price", "is not an allowed value")], id="check"),
        pytest.param(
            new(unit_price=-424242),
            422,
            [("unit_price", "is not an allowed value")],
            id="check named <table>_<column>_<rule>",
        ),
        pytest.param(
            new(price=4242424),
            422,
            [("sane_price", "is not an allowed value")],
            id="check, other name",
        ),
        pytest.param(new(sku=None), 422, [("sku", "is required")], id="not null"),
    ],
)
async def test_a_violation_names_the_field_never_the_value(
    client: AsyncClient,
    request_body: dict[str, Any],
    status: int,
    errors: list[tuple[str, str]],
    caplog: pytest.LogCaptureFixture,
) -> None:
    response = await client.post("/products", json=request_body)

    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["status"] == status
    assert [(e["field"], e["reason"]) for e in body["errors"]] == errors
    for value in (SECRET, SECRET.upper(), "424242", "4242424"):
        assert value not in response.text
        assert value not in caplog.text


async def test_deleting_a_record_still_referenced_is_a_conflict(
    client: AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    response = await client.delete("/products/1")

    assert response.status_code == 409
    body = response.json()
    assert body["detail"] == "the record is still referenced by other records"
    assert body["errors"] == [{"field": "id", "reason": "is still referenced by other records"}]
    assert "500" not in caplog.text


async def test_a_violation_found_at_commit_is_mapped_too(
    client: AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    """A deferred key is checked at COMMIT, which Litestar runs while closing both connection
    dependencies together, so the error arrives inside an exception group."""
    response = await client.post("/codes", json={"code": SECRET})

    assert response.status_code == 409, response.text
    assert response.json()["errors"] == [{"field": "code", "reason": "is already in use"}]
    assert SECRET not in response.text
    assert SECRET not in caplog.text
