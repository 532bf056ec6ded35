"""Sales' routes: cashiers ring up and read their own sales; managers read all, void, refund
and read the day's summary."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Annotated, Any

from litestar import Controller, Request, Response, get, post
from litestar.datastructures import ResponseHeader
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import FromPath, JSONBody, QueryParameter

from atriz_core.client import requires_role
from atriz_core.client.verifier import Principal
from atriz_core.kit.database import DbConnection
from atriz_core.kit.openapi import ProblemDetails, problem_responses
from atriz_core.kit.pagination import Page
from atriz_core.kit.pagination_params import (
    DEFAULT_LIMIT,
    PageCursor,
    PageLimit,
    cursors_of,
    schema_name,
)
from atriz_core.kit.problems import PROBLEM_JSON
from atriz_pshop.idempotency import (
    REPLAYED_HEADER,
    IdempotencyKey,
    OptionalIdempotencyKey,
    idempotent,
)
from atriz_pshop.roles import SELLERS, STAFF
from atriz_pshop.sales import services
from atriz_pshop.sales.schemas import (
    DaySummary,
    Refund,
    RefundCreate,
    Sale,
    SaleCreate,
    SaleHeader,
    ShortLine,
    VoidRequest,
)
from atriz_pshop.settings import settings_of

__all__ = ["SaleController"]

SalePage = Annotated[Page[SaleHeader], schema_name("SalePage")]
Day = Annotated[
    date | None,
    QueryParameter(description="A business day (YYYY-MM-DD) in the shop's time zone."),
]
CashierFilter = Annotated[
    uuid.UUID | None, QueryParameter(description="Only this cashier's sales (managers).")
]
_REPLAYED = [
    ResponseHeader(
        name=REPLAYED_HEADER,
        description="`true` when this is the stored response of an earlier request with the"
        " same Idempotency-Key.",
        required=False,
        documentation_only=True,
    )
]


class ShortStockProblem(ProblemDetails):
    """A 409 of `POST /sales`: `short` lists each product short of stock (absent when the
    conflict is an Idempotency-Key still in flight)."""

    short: list[ShortLine] | None = None


SHORT_STOCK_RESPONSE = ResponseSpec(
    data_container=ShortStockProblem,
    media_type=PROBLEM_JSON,
    description="Products short of stock (`short`: product_id, requested, available; nothing"
    " was sold), or the Idempotency-Key is in use by a request still in flight.",
    generate_examples=False,
)


def _sees_every_sale(user: Principal) -> bool:
    return user.has_role(*STAFF)


class SaleController(Controller):
    path = "/sales"
    tags = ["sales"]

    @post(
        "/",
        guards=[requires_role(*SELLERS)],
        responses={**problem_responses(422, 503), 409: SHORT_STOCK_RESPONSE},
        response_headers=_REPLAYED,
    )
    async def create_sale(
        self,
        data: JSONBody[SaleCreate],
        conn: DbConnection,
        request: Request[Principal, Any, Any],
        idempotency_key: IdempotencyKey,
    ) -> Response[Sale]:
        """Ring up a sale (cashiers and managers). `Idempotency-Key` is required. Lines of one
        product count together; every product is taken from stock or none is: 409 listing
        each short product (`short`: product_id, requested, available), 422 naming the line of
        an unknown or inactive product."""
        settings = settings_of(request.app.state)
        user = request.user
        shared = request.app.state.shared_pool

        async def sell() -> Sale:
            await services.limit_lock_waits(conn, settings.lock_timeout)
            return await services.record_sale(
                conn, shared, cashier_id=user.id, data=data, timezone=settings.timezone
            )

        await services.hold_sale_users(conn, shared, user_id=user.id, data=data)
        return await idempotent(
            conn,
            user_id=user.id,
            route="/sales",
            key=idempotency_key,
            body=data,
            response_type=Sale,
            status_code=201,
            hours=settings.idempotency_hours,
            effect=sell,
        )

    @get("/", guards=[requires_role(*SELLERS)])
    async def list_sales(
        self,
        conn: DbConnection,
        request: Request[Principal, Any, Any],
        day: Day = None,
        cashier_id: CashierFilter = None,
        limit: PageLimit = DEFAULT_LIMIT,
        cursor: PageCursor = None,
    ) -> SalePage:
        """Sales, newest first, a page at a time: a cashier's own, or anyone's for managers."""
        user = request.user
        cashier = cashier_id if _sees_every_sale(user) else user.id
        return await services.list_sales(
            conn, cursors_of(request), cashier_id=cashier, day=day, limit=limit, cursor=cursor
        )

    @get("/summary", guards=[requires_role(*STAFF)])
    async def day_summary(
        self, conn: DbConnection, request: Request[Principal, Any, Any], day: Day = None
    ) -> DaySummary:
        """A business day's count, revenue, refunds and top products, per currency (today in
        `PSHOP_TIMEZONE` by default; managers)."""
        return await services.day_summary(conn, day, settings_of(request.app.state).timezone)

    @get("/{sale_id:uuid}", guards=[requires_role(*SELLERS)])
    async def get_sale(
        self,
        sale_id: FromPath[uuid.UUID],
        conn: DbConnection,
        request: Request[Principal, Any, Any],
    ) -> Sale:
        """One sale with its lines: a cashier's own, or any for managers (404 otherwise)."""
        user = request.user
        return await services.get_sale(
            conn, sale_id, cashier_id=None if _sees_every_sale(user) else user.id
        )

    @post(
        "/{sale_id:uuid}/void",
        guards=[requires_role(*STAFF)],
        status_code=200,
        responses=problem_responses(409, 422, 503),
        response_headers=_REPLAYED,
    )
    async def void_sale(
        self,
        sale_id: FromPath[uuid.UUID],
        conn: DbConnection,
        request: Request[Principal, Any, Any],
        idempotency_key: OptionalIdempotencyKey = None,
        data: JSONBody[VoidRequest | None] = None,
    ) -> Response[Sale]:
        """Void a sale of the current business day (managers): its stock comes back through
        reversing movements. 409 if voided already, of another day, or refunded. The body (a
        `reason`) may be left out."""
        settings = settings_of(request.app.state)
        user = request.user
        reasoned = data or VoidRequest()

        async def void() -> Sale:
            await services.limit_lock_waits(conn, settings.lock_timeout)
            return await services.void_sale(
                conn, sale_id, user_id=user.id, data=reasoned, timezone=settings.timezone
            )

        await services.hold_sale_users(conn, request.app.state.shared_pool, user_id=user.id)
        return await idempotent(
            conn,
            user_id=user.id,
            route=f"/sales/{sale_id}/void",
            key=idempotency_key,
            body=reasoned,
            response_type=Sale,
            status_code=200,
            hours=settings.idempotency_hours,
            effect=void,
        )

    @post(
        "/{sale_id:uuid}/refunds",
        guards=[requires_role(*STAFF)],
        responses=problem_responses(409, 422, 503),
        response_headers=_REPLAYED,
    )
    async def refund_sale(
        self,
        sale_id: FromPath[uuid.UUID],
        data: JSONBody[RefundCreate],
        conn: DbConnection,
        request: Request[Principal, Any, Any],
        idempotency_key: OptionalIdempotencyKey = None,
    ) -> Response[Refund]:
        """Refund lines of a sale (managers), each capped by what was sold minus what was
        refunded; `restock` puts the goods back in stock."""
        settings = settings_of(request.app.state)
        user = request.user

        async def refund() -> Refund:
            await services.limit_lock_waits(conn, settings.lock_timeout)
            return await services.refund_sale(
                conn, sale_id, user_id=user.id, data=data, timezone=settings.timezone
            )

        await services.hold_sale_users(conn, request.app.state.shared_pool, user_id=user.id)
        return await idempotent(
            conn,
            user_id=user.id,
            route=f"/sales/{sale_id}/refunds",
            key=idempotency_key,
            body=data,
            response_type=Refund,
            status_code=201,
            hours=settings.idempotency_hours,
            effect=refund,
        )
