"""A minimal app route for the benchmarks: one indexed SELECT, public or behind core's token
(checked by `AtrizAuth`'s middleware), and the same behind a role guard."""

from __future__ import annotations

import os
from typing import Any

from litestar import Litestar, get
from litestar.di import Provide
from litestar.params import FromPath

from atriz_core.client import PUBLIC, AtrizAuth, JwksKeys, TokenVerifier, requires_role
from atriz_core.kit.database import DbConnection, pool_lifespan, provide_connection
from atriz_core.kit.health import health_handlers
from atriz_core.kit.problems import EXCEPTION_HANDLERS


async def _item(conn: DbConnection, item_id: int) -> dict[str, Any]:
    row = await conn.fetchrow("SELECT id, name FROM bench_items WHERE id = $1", item_id)
    return dict(row) if row else {}


@get("/open/{item_id:int}", opt=PUBLIC)
async def open_item(item_id: FromPath[int], conn: DbConnection) -> dict[str, Any]:
    return await _item(conn, item_id)


@get("/items/{item_id:int}")
async def signed_in_item(item_id: FromPath[int], conn: DbConnection) -> dict[str, Any]:
    return await _item(conn, item_id)


@get("/role-items/{item_id:int}", guards=[requires_role("user")])
async def role_item(item_id: FromPath[int], conn: DbConnection) -> dict[str, Any]:
    return await _item(conn, item_id)


def create_app() -> Litestar:
    verifier = TokenVerifier(
        JwksKeys(os.environ["BENCH_JWKS_URL"]),
        issuer=os.environ["BENCH_ISSUER"],
        audience="pshop",
        cache_size=int(os.environ.get("BENCH_TOKEN_CACHE_SIZE", "10000")),
    )
    return Litestar(
        route_handlers=[open_item, signed_in_item, role_item, *health_handlers("db_pool")],
        dependencies={"conn": Provide(provide_connection)},
        plugins=[AtrizAuth(verifier)],
        lifespan=[pool_lifespan("db_pool", os.environ["BENCH_DATABASE_URL"])],
        exception_handlers=EXCEPTION_HANDLERS,
    )
