"""Sales' rules: a sale takes its stock or nothing, voids and refunds give it back.

A sale's lines are counted together per product first (two lines of one product are one
demand, so a product can never be oversold by splitting it over lines), then each product is
decremented by one conditional UPDATE in ascending product id order. Every sale locks its rows
in that one global order, so two sales can wait for each other but never deadlock. The
decrements come last, after the sale, its lines and its movements are written: a product's
row is locked from its decrement to the commit, and the shorter that is, the more sales of a
popular product go through a second. A product
short of stock does not stop the loop: every short product is collected, then the sale fails
with 409 listing them all, and the transaction (the kit's, one per write request) rolls back
every decrement made before it, the idempotency key included.
"""

from __future__ import annotations

import uuid
from collections import Counter
from datetime import date

import asyncpg

from atriz_core.client import check_users, hold_users
from atriz_core.errors import ConflictError, FieldProblem, InvalidInputError, NotFoundError
from atriz_core.kit.pagination import CursorCodec, Page
from atriz_pshop.sales import repository
from atriz_pshop.sales.schemas import (
    DaySummary,
    Refund,
    RefundCreate,
    RefundLine,
    Sale,
    SaleCreate,
    SaleHeader,
    SaleLine,
    ShortLine,
    VoidRequest,
)
from atriz_pshop.stock import repository as stock
from atriz_pshop.stock.services import add_to_stock

__all__ = [
    "InsufficientStockError",
    "day_summary",
    "get_sale",
    "hold_sale_users",
    "limit_lock_waits",
    "list_sales",
    "record_sale",
    "refund_sale",
    "void_sale",
]

TOP_PRODUCTS = 5


class InsufficientStockError(ConflictError):
    """409: the products the sale wants more of than there is, each with what is available."""

    title = "Insufficient stock"

    def __init__(self, short: list[ShortLine], problems: list[FieldProblem]) -> None:
        super().__init__(
            f"{len(short)} product(s) of the sale are short of stock; nothing was sold",
            problems,
            extensions={
                "short": [
                    {
                        "product_id": str(line.product_id),
                        "requested": line.requested,
                        "available": line.available,
                    }
                    for line in short
                ]
            },
        )
        self.short = short


def _with_lines(header: SaleHeader, lines: list[SaleLine]) -> Sale:
    return Sale(
        id=header.id,
        cashier_id=header.cashier_id,
        cashier_removed=header.cashier_removed,
        customer_id=header.customer_id,
        status=header.status,
        currency=header.currency,
        total_minor=header.total_minor,
        refunded_minor=header.refunded_minor,
        business_day=header.business_day,
        created_at=header.created_at,
        voided_at=header.voided_at,
        lines=lines,
    )


async def limit_lock_waits(conn: asyncpg.Connection, seconds: float) -> None:
    """A write waits at most `seconds` for a row that another holds, then fails with 503
    (`Retry-After`): a stuck transaction elsewhere never makes the tills hang."""
    await repository.set_lock_timeout(conn, seconds)


async def get_sale(
    conn: asyncpg.Connection, sale_id: uuid.UUID, *, cashier_id: uuid.UUID | None = None
) -> Sale:
    """The sale with its lines; with `cashier_id`, only if that cashier made it (else 404)."""
    header = await repository.get_sale(conn, sale_id)
    if header is None or (cashier_id is not None and header.cashier_id != cashier_id):
        raise NotFoundError(f"no sale {sale_id}")
    return _with_lines(header, await repository.get_sale_lines(conn, sale_id))


async def list_sales(
    conn: asyncpg.Connection,
    cursors: CursorCodec,
    *,
    cashier_id: uuid.UUID | None,
    day: date | None,
    limit: int,
    cursor: str | None,
) -> Page[SaleHeader]:
    after = cursors.position(cursor, repository.NEWEST_FIRST)
    rows = await repository.list_sales(conn, cashier_id, day, after, limit + 1)
    return cursors.page(rows, limit, repository.NEWEST_FIRST, lambda s: (s.created_at, s.id))


async def hold_sale_users(
    conn: asyncpg.Connection,
    shared: asyncpg.Pool | asyncpg.Connection,
    *,
    user_id: uuid.UUID,
    data: SaleCreate | None = None,
) -> None:
    """Hold the signed-in user and a sale's customer (`hold_users`), before the write claims
    its idempotency key (a key taken over locks its row, which the user's deletion deletes),
    and check the user: a deleted one gets 401. Their sales, voids and refunds are kept as
    history, but not the key their request claimed. The customer is checked by the sale, after
    the key: a retry of a sale made replays it, whatever became of its customer since."""
    customer = data.customer_id if data is not None else None
    customers = [customer] if customer is not None else []
    await hold_users(conn, shared, [], signed_in=user_id, checked_later=customers)


async def record_sale(
    conn: asyncpg.Connection,
    shared: asyncpg.Pool | asyncpg.Connection,
    *,
    cashier_id: uuid.UUID,
    data: SaleCreate,
    timezone: str,
) -> Sale:
    """Ring up a sale (see the module docstring), its users held (`hold_sale_users`): 422
    naming `customer_id` for a customer who is not an active user, or the line of an unknown
    or inactive product; 409 listing every product short of stock."""
    if data.customer_id is not None:
        await check_users(shared, [data.customer_id], field="customer_id")
    products = await repository.get_prices(conn, list({line.product_id for line in data.lines}))
    problems: list[FieldProblem] = []
    currency: str | None = None
    for index, line in enumerate(data.lines):
        field = f"lines[{index}].product_id"
        product = products.get(line.product_id)
        if product is None:
            problems.append(FieldProblem(field, "refers to no product"))
        elif not product["active"]:
            problems.append(FieldProblem(field, "refers to a product that is not sold any more"))
        elif currency is None:
            currency = product["currency"]
        elif product["currency"] != currency:
            problems.append(
                FieldProblem(field, f"is priced in {product['currency']}, the sale in {currency}")
            )
    if problems or currency is None:
        raise InvalidInputError("a line of the sale cannot be sold", problems)

    wanted: Counter[uuid.UUID] = Counter()
    for line in data.lines:
        wanted[line.product_id] += line.quantity
    demand = sorted(wanted.items())  # ascending product id: the one lock order of every sale
    priced = [
        (line.product_id, line.quantity, products[line.product_id]["price_minor"])
        for line in data.lines
    ]
    total = sum(quantity * price for _, quantity, price in priced)
    row = await repository.insert_sale(
        conn,
        cashier_id=cashier_id,
        customer_id=data.customer_id,
        currency=currency,
        total_minor=total,
        timezone=timezone,
        lines=priced,
        movements=demand,
    )
    # Stock last: a product's row stays locked from its decrement to the commit, so the
    # sale's other statements run before it, not while other sellers of it wait.
    short: list[ShortLine] = []
    for product_id, quantity in demand:
        if not await stock.take_stock(conn, product_id, quantity):
            available = await stock.on_hand(conn, product_id)
            short.append(ShortLine(product_id, quantity, available or 0))
    if short:
        shorts = {line.product_id for line in short}
        raise InsufficientStockError(
            short,
            [
                FieldProblem(f"lines[{index}].quantity", "is more than there is in stock")
                for index, line in enumerate(data.lines)
                if line.product_id in shorts
            ],
        )

    return Sale(
        id=row["id"],
        cashier_id=cashier_id,
        cashier_removed=False,
        customer_id=data.customer_id,
        status="completed",
        currency=currency,
        total_minor=total,
        refunded_minor=0,
        business_day=row["business_day"],
        created_at=row["created_at"],
        voided_at=None,
        lines=[
            SaleLine(
                id=line_id,
                line_no=number,
                product_id=product_id,
                quantity=quantity,
                unit_price_minor=price,
                line_total_minor=quantity * price,
                refunded_quantity=0,
            )
            for number, (line_id, (product_id, quantity, price)) in enumerate(
                zip(row["line_ids"], priced, strict=True), start=1
            )
        ],
    )


async def void_sale(
    conn: asyncpg.Connection,
    sale_id: uuid.UUID,
    *,
    user_id: uuid.UUID,
    data: VoidRequest,
    timezone: str,
) -> Sale:
    """Cancel a sale of the current business day: its stock comes back through reversing
    `void` movements. 409 for a sale already voided, of another day, or with refunds."""
    sale = await repository.lock_sale(conn, sale_id)
    if sale is None:
        raise NotFoundError(f"no sale {sale_id}")
    if sale["status"] == "voided":
        raise ConflictError("the sale is already voided")
    if sale["business_day"] != await repository.today(conn, timezone):
        raise ConflictError(
            "only a sale of the current business day can be voided; refund it instead"
        )
    if await repository.has_refunds(conn, sale_id):
        raise ConflictError("the sale has refunds; refund the rest of it instead")
    returned = await repository.sold_per_product(conn, sale_id)  # ascending product id
    for product_id, quantity in returned:
        await add_to_stock(conn, product_id, quantity, field=None)
    await stock.insert_movements(
        conn, returned, reason="void", user_id=user_id, note=data.reason, sale_id=sale_id
    )
    await repository.void_sale(conn, sale_id, user_id, data.reason)
    return await get_sale(conn, sale_id)


async def refund_sale(
    conn: asyncpg.Connection,
    sale_id: uuid.UUID,
    *,
    user_id: uuid.UUID,
    data: RefundCreate,
    timezone: str,
) -> Refund:
    """Refund lines of a sale, each at most what was sold minus what was refunded before
    (lines of one sale line counted together); restocked lines come back through `refund`
    movements."""
    sale = await repository.lock_sale(conn, sale_id)
    if sale is None:
        raise NotFoundError(f"no sale {sale_id}")
    if sale["status"] == "voided":
        raise ConflictError("the sale is voided: there is nothing to refund")
    lines = {line.id: line for line in await repository.get_sale_lines(conn, sale_id)}
    asked: Counter[uuid.UUID] = Counter()
    problems: list[FieldProblem] = []
    for index, line in enumerate(data.lines):
        sold = lines.get(line.sale_line_id)
        if sold is None:
            problems.append(
                FieldProblem(f"lines[{index}].sale_line_id", "is not a line of this sale")
            )
            continue
        asked[line.sale_line_id] += line.quantity
        left = sold.quantity - sold.refunded_quantity
        if asked[line.sale_line_id] > left:
            problems.append(
                FieldProblem(
                    f"lines[{index}].quantity",
                    f"is more than the {left} of this line not yet refunded",
                )
            )
    if problems:
        raise InvalidInputError("a line of the refund cannot be refunded", problems)

    refunded = [
        RefundLine(
            sale_line_id=line.sale_line_id,
            quantity=line.quantity,
            amount_minor=line.quantity * lines[line.sale_line_id].unit_price_minor,
            restock=line.restock,
        )
        for line in data.lines
    ]
    total = sum(line.amount_minor for line in refunded)
    row = await repository.insert_refund(
        conn,
        sale_id=sale_id,
        user_id=user_id,
        reason=data.reason,
        total_minor=total,
        timezone=timezone,
        lines=refunded,
    )
    back: Counter[uuid.UUID] = Counter()
    for given in refunded:
        if given.restock:
            back[lines[given.sale_line_id].product_id] += given.quantity
    restocked = sorted(back.items())
    for product_id, quantity in restocked:
        await add_to_stock(conn, product_id, quantity, field="lines")
    if restocked:
        await stock.insert_movements(
            conn,
            restocked,
            reason="refund",
            user_id=user_id,
            note=data.reason,
            sale_id=sale_id,
            refund_id=row["id"],
        )
    return Refund(
        id=row["id"],
        sale_id=sale_id,
        user_id=user_id,
        reason=data.reason,
        currency=sale["currency"],
        total_minor=total,
        business_day=row["business_day"],
        created_at=row["created_at"],
        lines=refunded,
    )


async def day_summary(conn: asyncpg.Connection, day: date | None, timezone: str) -> DaySummary:
    """Count, revenue, refunds and top products of a business day (today by default)."""
    day = day or await repository.today(conn, timezone)
    totals = await repository.day_totals(conn, day)
    return DaySummary(
        business_day=day,
        timezone=timezone,
        sales=sum(t.sales for t in totals),
        voided=await repository.day_voided(conn, day),
        refunds=sum(t.refunds for t in totals),
        totals=totals,
        top_products=await repository.top_products(conn, day, TOP_PRODUCTS),
    )
