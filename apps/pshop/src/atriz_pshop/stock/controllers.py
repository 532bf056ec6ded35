"""Stock's routes: levels, the low-stock list, movements, reconciliation, and the manager's
restock, adjustment and count."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from litestar import Controller, Request, get, post
from litestar.params import FromPath, JSONBody

from atriz_core.client import requires_role
from atriz_core.client.verifier import Principal
from atriz_core.kit.database import DbConnection
from atriz_core.kit.openapi import problem_responses
from atriz_core.kit.pagination import Page
from atriz_core.kit.pagination_params import (
    DEFAULT_LIMIT,
    PageCursor,
    PageLimit,
    cursors_of,
    schema_name,
)
from atriz_pshop.roles import SELLERS, STAFF
from atriz_pshop.stock import services
from atriz_pshop.stock.schemas import (
    Adjustment,
    Count,
    Movement,
    Reconciliation,
    Restock,
    StockLevel,
)

__all__ = ["StockController"]

StockLevelPage = Annotated[Page[StockLevel], schema_name("StockLevelPage")]
MovementPage = Annotated[Page[Movement], schema_name("MovementPage")]


class StockController(Controller):
    path = "/stock"
    tags = ["stock"]

    @get("/", guards=[requires_role(*SELLERS)])
    async def list_levels(
        self,
        conn: DbConnection,
        request: Request[Principal, Any, Any],
        limit: PageLimit = DEFAULT_LIMIT,
        cursor: PageCursor = None,
    ) -> StockLevelPage:
        """Every product's stock, by SKU, a page at a time (cashiers and managers)."""
        return await services.list_levels(
            conn, cursors_of(request), low_only=False, limit=limit, cursor=cursor
        )

    @get("/low", guards=[requires_role(*SELLERS)])
    async def list_low(
        self,
        conn: DbConnection,
        request: Request[Principal, Any, Any],
        limit: PageLimit = DEFAULT_LIMIT,
        cursor: PageCursor = None,
    ) -> StockLevelPage:
        """Active products at or below their reorder level, by SKU, a page at a time."""
        return await services.list_levels(
            conn, cursors_of(request), low_only=True, limit=limit, cursor=cursor
        )

    @get("/reconciliation", guards=[requires_role(*STAFF)])
    async def reconcile(self, conn: DbConnection) -> Reconciliation:
        """On-hand against the sum of the ledger for every product; any difference is listed
        in `drift`, which the shop's design keeps empty (managers)."""
        return await services.reconcile(conn)

    @get("/{product_id:uuid}", guards=[requires_role(*SELLERS)])
    async def get_level(self, product_id: FromPath[uuid.UUID], conn: DbConnection) -> StockLevel:
        """One product's stock (cashiers and managers)."""
        return await services.get_level(conn, product_id)

    @get("/{product_id:uuid}/movements", guards=[requires_role(*STAFF)])
    async def list_movements(
        self,
        product_id: FromPath[uuid.UUID],
        conn: DbConnection,
        request: Request[Principal, Any, Any],
        limit: PageLimit = DEFAULT_LIMIT,
        cursor: PageCursor = None,
    ) -> MovementPage:
        """A product's ledger, newest first, a page at a time (managers)."""
        return await services.list_movements(
            conn, cursors_of(request), product_id, limit=limit, cursor=cursor
        )

    @post(
        "/{product_id:uuid}/restock",
        guards=[requires_role(*STAFF)],
        status_code=200,
        responses=problem_responses(422),
    )
    async def restock(
        self,
        product_id: FromPath[uuid.UUID],
        data: JSONBody[Restock],
        conn: DbConnection,
        request: Request[Principal, Any, Any],
    ) -> StockLevel:
        """Goods received: on-hand grows, a `restock` movement is recorded (managers)."""
        return await services.restock(conn, product_id, request.user.id, data)

    @post(
        "/{product_id:uuid}/adjust",
        guards=[requires_role(*STAFF)],
        status_code=200,
        responses=problem_responses(409, 422),
    )
    async def adjust(
        self,
        product_id: FromPath[uuid.UUID],
        data: JSONBody[Adjustment],
        conn: DbConnection,
        request: Request[Principal, Any, Any],
    ) -> StockLevel:
        """A signed correction with its reason (`note`), recorded as an `adjustment`; 409 if
        it would take on-hand below zero (managers)."""
        return await services.adjust(conn, product_id, request.user.id, data)

    @post(
        "/{product_id:uuid}/count",
        guards=[requires_role(*STAFF)],
        status_code=200,
        responses=problem_responses(422),
    )
    async def count(
        self,
        product_id: FromPath[uuid.UUID],
        data: JSONBody[Count],
        conn: DbConnection,
        request: Request[Principal, Any, Any],
    ) -> StockLevel:
        """A physical count: on-hand becomes `counted`, the difference is recorded as a
        `count` movement (managers)."""
        return await services.count(conn, product_id, request.user.id, data)
