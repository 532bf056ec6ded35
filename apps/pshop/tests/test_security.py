"""Every route against bad tokens, the authorization matrix of each kind of route, and schema
fuzzing with a manager's token: the kit's helpers over the whole service."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from atriz_core.testing import (
    TokenMinter,
    assert_authorization_matrix,
    assert_every_route_rejects_bad_tokens,
    assert_openapi_fuzzing_passes,
    make_actors,
)
from atriz_database.migrations import BOOKKEEPING_TABLES

RunningPshop = Any
MANAGER, CASHIER = "pshop.manager", "pshop.cashier"


async def test_every_route_refuses_bad_tokens(
    pshop: RunningPshop, token_minter: TokenMinter
) -> None:
    routes = await assert_every_route_rejects_bad_tokens(
        pshop.client, pshop.app, token_minter, "pshop"
    )

    checked = {str(route) for route in routes}
    assert {
        "GET /products",
        "POST /products",
        "PATCH /products/{product_id}",
        "POST /products/{product_id}/deactivate",
        "GET /products/barcodes/{barcode}",
        "GET /stock/reconciliation",
        "POST /stock/{product_id}/count",
        "POST /sales",
        "GET /sales/summary",
        "POST /sales/{sale_id}/void",
        "POST /sales/{sale_id}/refunds",
    } <= checked


async def test_the_authorization_matrix(pshop: RunningPshop, make_user: Any) -> None:
    actors = await make_actors(make_user, roles=(MANAGER, CASHIER, "admin"))
    product = await pshop.product(stock=1000)
    client = pshop.client

    async def fresh_product() -> str:
        return f"/products/{(await pshop.product())['id']}/deactivate"

    async def fresh_sale() -> str:
        sale = (await pshop.sell([(product["id"], 1)])).json()
        return f"/sales/{sale['id']}/void"

    readers = {"anonymous": 401, "owner": 200, CASHIER: 200, MANAGER: 200, "admin": 200}
    sellers = {"anonymous": 401, "owner": 403, CASHIER: 200, MANAGER: 200, "admin": 200}
    staff = {"anonymous": 401, "owner": 403, CASHIER: 403, MANAGER: 200, "admin": 200}
    await assert_authorization_matrix(client, "GET", "/products", readers, actors)
    await assert_authorization_matrix(client, "GET", f"/products/{product['id']}", readers, actors)
    await assert_authorization_matrix(client, "GET", "/stock", sellers, actors)
    await assert_authorization_matrix(client, "GET", f"/stock/{product['id']}", sellers, actors)
    await assert_authorization_matrix(client, "GET", "/stock/low", sellers, actors)
    await assert_authorization_matrix(client, "GET", "/sales", sellers, actors)
    await assert_authorization_matrix(client, "GET", "/stock/reconciliation", staff, actors)
    await assert_authorization_matrix(
        client, "GET", f"/stock/{product['id']}/movements", staff, actors
    )
    await assert_authorization_matrix(client, "GET", "/sales/summary", staff, actors)
    await assert_authorization_matrix(
        client,
        "POST",
        f"/stock/{product['id']}/restock",
        staff,
        actors,
        json={"quantity": 1},
    )
    await assert_authorization_matrix(client, "POST", fresh_product, staff, actors)
    await assert_authorization_matrix(client, "POST", fresh_sale, staff, actors, json={})
    await assert_authorization_matrix(
        client,
        "POST",
        "/products",
        {"anonymous": 401, "owner": 403, CASHIER: 403},
        actors,
        json={"sku": "X-1", "name": "x", "price_minor": 1, "currency": "EUR"},
    )
    for seller in (CASHIER, MANAGER, "admin"):
        await assert_authorization_matrix(
            client,
            "POST",
            "/sales",
            {seller: 201},
            actors,
            json={"lines": [{"product_id": product["id"], "quantity": 1}]},
            headers={"Idempotency-Key": str(uuid.uuid4())},
        )
    await assert_authorization_matrix(
        client,
        "POST",
        "/sales",
        {"anonymous": 401, "owner": 403},
        actors,
        json={"lines": [{"product_id": product["id"], "quantity": 1}]},
        headers={"Idempotency-Key": str(uuid.uuid4())},
    )


@pytest.mark.slow
async def test_the_openapi_passes_fuzzing_with_a_real_token(pshop: RunningPshop) -> None:
    await pshop.product(stock=100)

    await assert_openapi_fuzzing_passes(
        pshop.client, headers=pshop.manager.headers, max_examples=10
    )


async def test_every_table_is_the_writer_groups_also_one_a_later_migration_adds(
    pshop: RunningPshop,
) -> None:
    """pshop_app, the production login, reaches rows through pshop_writer: a table that a
    later migration creates (as the migrator, with no grant of its own) is the group's too,
    as it was only for the tables granted one by one."""
    await pshop.sql("CREATE TABLE later_notes (id bigint GENERATED ALWAYS AS IDENTITY, body text)")
    try:
        reachable = await pshop.rows(
            "SELECT c.relname, has_table_privilege('pshop_writer', c.oid, 'SELECT') AS readable"
            " FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND NOT c.relispartition"
            "  AND c.relname <> ALL($1::text[])",
            list(BOOKKEEPING_TABLES),
        )
        writable = await pshop.sql(
            "SELECT has_table_privilege('pshop_writer', 'later_notes', 'INSERT')"
            " AND has_sequence_privilege('pshop_writer', 'later_notes_id_seq', 'USAGE')"
        )
    finally:
        await pshop.sql("DROP TABLE later_notes")

    assert [row["relname"] for row in reachable if not row["readable"]] == []
    assert writable
