"""A minimal app for the benchmarks, built by the kit as every app is (`create_service`): one
SELECT by primary key, public (`opt=PUBLIC`) or behind core's token (the kit's `AtrizAuth`
middleware), and the same behind a role guard.

Everything an app gets comes with it: metrics, request id and request log line, problem
details, `/health` and `/ready`, a pool on its own database and one on `atriz_shared` (which
also feeds the verifier's revocations, checked on every request). It trusts the bench's own
signing key, given as a key set (`BENCH_JWKS`), as a test's app trusts its `TokenMinter`.

`create_bare_app` is the same routes wired by hand as this file did before the kit (the token
middleware, a pool, problem details; no metrics, request id, log line or revocations): the
benchmark measures what the kit's per-request work costs against it.

Environment: `BENCH_DATABASE_URL` (its own database, with `bench_items`),
`BENCH_SHARED_DATABASE_URL` (optional: `atriz_shared`), `BENCH_SHARED_DIRECT_URL` (optional:
`atriz_shared` straight, for the `LISTEN`, when the others go through PgBouncer),
`BENCH_JWKS`, `BENCH_ISSUER`, `BENCH_TOKEN_CACHE_SIZE`, `BENCH_ENV` (log format: production
writes JSON lines, the default), and the `BENCH_*` switches of `bench_toggles`.
"""

from __future__ import annotations

import json
import os
from typing import Any

from bench_toggles import apply_toggles
from litestar import Litestar, get
from litestar.di import Provide
from litestar.params import FromPath

from atriz_core.client import PUBLIC, AtrizAuth, StaticKeys, TokenVerifier, requires_role
from atriz_core.kit.database import Db, pool_lifespan, provide_connection
from atriz_core.kit.health import health_handlers
from atriz_core.kit.problems import EXCEPTION_HANDLERS
from atriz_core.kit.service import create_service
from atriz_database import Environment

AUDIENCE = "bench"


async def _item(conn: Db, item_id: int) -> dict[str, Any]:
    row = await conn.fetchrow("SELECT id, name FROM bench_items WHERE id = $1", item_id)
    return dict(row) if row else {}


@get("/open/{item_id:int}", opt=PUBLIC)
async def open_item(item_id: FromPath[int], conn: Db) -> dict[str, Any]:
    return await _item(conn, item_id)


@get("/items/{item_id:int}")
async def signed_in_item(item_id: FromPath[int], conn: Db) -> dict[str, Any]:
    return await _item(conn, item_id)


@get("/role-items/{item_id:int}", guards=[requires_role("user")])
async def role_item(item_id: FromPath[int], conn: Db) -> dict[str, Any]:
    return await _item(conn, item_id)


def _verifier() -> TokenVerifier:
    return TokenVerifier(
        StaticKeys(json.loads(os.environ["BENCH_JWKS"])),
        issuer=os.environ["BENCH_ISSUER"],
        audience=AUDIENCE,
        cache_size=int(os.environ.get("BENCH_TOKEN_CACHE_SIZE", "10000")),
    )


def create_app() -> Litestar:
    """The bench app as the kit builds every app."""
    apply_toggles()
    return create_service(
        name=AUDIENCE,
        route_handlers=[open_item, signed_in_item, role_item],
        verifier=_verifier(),
        database_url=os.environ["BENCH_DATABASE_URL"],
        shared_database_url=os.environ.get("BENCH_SHARED_DATABASE_URL") or None,
        shared_direct_url=os.environ.get("BENCH_SHARED_DIRECT_URL") or None,
        environment=Environment(os.environ.get("BENCH_ENV", "production")),
    )


def create_bare_app() -> Litestar:
    """The same routes wired by hand, as before the kit (for comparison only)."""
    return Litestar(
        route_handlers=[open_item, signed_in_item, role_item, *health_handlers("db_pool")],
        dependencies={"conn": Provide(provide_connection)},
        plugins=[AtrizAuth(_verifier())],
        lifespan=[pool_lifespan("db_pool", os.environ["BENCH_DATABASE_URL"])],
        exception_handlers=EXCEPTION_HANDLERS,
    )
