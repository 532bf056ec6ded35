"""Sales' SQL: one function per statement."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date
from typing import Any

import asyncpg

from atriz_core.kit.pagination import Keyset
from atriz_pshop.sales.schemas import (
    CurrencyTotals,
    RefundLine,
    SaleHeader,
    SaleLine,
    TopProduct,
)

__all__ = [
    "NEWEST_FIRST",
    "get_prices",
    "get_sale",
    "get_sale_lines",
    "has_refunds",
    "insert_refund",
    "insert_sale",
    "list_sales",
    "lock_sale",
    "set_lock_timeout",
    "sold_per_product",
    "today",
    "void_sale",
]

NEWEST_FIRST = Keyset("pshop.sales.newest", ("s.created_at", "s.id"), descending=True)

# FOR SHARE until the sale commits: a product withdrawn or repriced meanwhile waits for the sale
# (its UPDATE conflicts), or the sale reads the product as changed; never a sale committed at a
# price, or of a product, that a manager's answered change had replaced. In ascending id order,
# as the stock is taken, so sales and product changes never wait for each other in a circle.
PRICES = """
SELECT id, price_minor, currency, active FROM products WHERE id = ANY($1::uuid[])
ORDER BY id FOR SHARE
"""
# The sale, its lines and its movements in one statement (one round trip): lines are kept as
# rung up, movements are one per product (lines of one product counted together).
INSERT_SALE = """
WITH sale AS (
    INSERT INTO sales (cashier_id, customer_id, currency, total_minor, business_day)
    VALUES ($1, $2, $3, $4, (now() AT TIME ZONE $5)::date)
    RETURNING id, business_day, created_at
), lines AS (
    INSERT INTO sale_lines (sale_id, line_no, product_id, quantity, unit_price_minor,
                            line_total_minor)
    SELECT sale.id, l.line_no, l.product_id, l.quantity, l.price, l.quantity * l.price
    FROM sale, unnest($6::uuid[], $7::integer[], $8::bigint[])
        WITH ORDINALITY AS l (product_id, quantity, price, line_no)
    RETURNING id, line_no
), movements AS (
    INSERT INTO stock_movements (product_id, quantity, reason, sale_id, user_id)
    SELECT m.product_id, -m.quantity, 'sale', sale.id, $1
    FROM sale, unnest($9::uuid[], $10::integer[]) AS m (product_id, quantity)
)
SELECT sale.id, sale.business_day, sale.created_at,
       (SELECT array_agg(lines.id ORDER BY lines.line_no) FROM lines) AS line_ids
FROM sale
"""
_TODAY = "SELECT (now() AT TIME ZONE $1)::date"
# `SET LOCAL lock_timeout`: for this transaction only, so no session state outlives it.
_LOCK_TIMEOUT = "SELECT set_config('lock_timeout', $1, true)"
_HEADER = """
SELECT s.id, s.cashier_id, (r.user_id IS NOT NULL) AS cashier_removed, s.customer_id, s.status,
       s.currency, s.total_minor,
       COALESCE((SELECT sum(f.total_minor) FROM refunds f WHERE f.sale_id = s.id), 0)::bigint
           AS refunded_minor,
       s.business_day, s.created_at, s.voided_at
FROM sales s LEFT JOIN removed_users r ON r.user_id = s.cashier_id
"""
_GET_SALE = f"{_HEADER} WHERE s.id = $1"
_LIST = f"""{_HEADER}
WHERE ($1::uuid IS NULL OR s.cashier_id = $1) AND ($2::date IS NULL OR s.business_day = $2)
  {{after}}
ORDER BY {NEWEST_FIRST.order_by()} LIMIT $3"""
_LIST_FIRST = _LIST.format(after="")
_LIST_AFTER = _LIST.format(after=f"AND {NEWEST_FIRST.after(4)}")
_LINES = """
SELECT l.id, l.line_no, l.product_id, l.quantity, l.unit_price_minor, l.line_total_minor,
       COALESCE((SELECT sum(rl.quantity) FROM refund_lines rl WHERE rl.sale_line_id = l.id), 0)::int
           AS refunded_quantity
FROM sale_lines l WHERE l.sale_id = $1 ORDER BY l.line_no
"""
_LOCK_SALE = "SELECT id, status, business_day, currency FROM sales WHERE id = $1 FOR UPDATE"
# Its own statement, after the lock: a statement's snapshot is taken before it waits, and a
# refund never updates the sale's row, so a lock-and-read in one statement missed a refund that
# committed while it waited (a void then cancelled a refunded sale).
_HAS_REFUNDS = "SELECT EXISTS (SELECT 1 FROM refunds WHERE sale_id = $1)"
_SOLD_PER_PRODUCT = """
SELECT product_id, sum(quantity)::int AS quantity FROM sale_lines WHERE sale_id = $1
GROUP BY product_id ORDER BY product_id
"""
_VOID = """
UPDATE sales SET status = 'voided', voided_at = now(), voided_by = $2, void_reason = $3
WHERE id = $1
"""
_INSERT_REFUND = """
WITH refund AS (
    INSERT INTO refunds (sale_id, user_id, reason, total_minor, business_day)
    VALUES ($1, $2, $3, $4, (now() AT TIME ZONE $5)::date)
    RETURNING id, business_day, created_at
), lines AS (
    INSERT INTO refund_lines (refund_id, sale_line_id, quantity, amount_minor, restock)
    SELECT refund.id, l.sale_line_id, l.quantity, l.amount, l.restock
    FROM refund, unnest($6::uuid[], $7::integer[], $8::bigint[], $9::boolean[])
        AS l (sale_line_id, quantity, amount, restock)
)
SELECT id, business_day, created_at FROM refund
"""
# A day's sums are numeric, as PostgreSQL sums bigints: a busy day of large sales passes the
# bigint range that each sale fits in (casting back to bigint failed every summary of that day).
_TOTALS = """
WITH day_sales AS (
    SELECT currency, count(*) AS sales, sum(total_minor) AS revenue
    FROM sales WHERE business_day = $1 AND status = 'completed' GROUP BY currency
), day_refunds AS (
    SELECT s.currency, count(*) AS refunds, sum(f.total_minor) AS refunded
    FROM refunds f JOIN sales s ON s.id = f.sale_id
    WHERE f.business_day = $1 GROUP BY s.currency
)
SELECT COALESCE(a.currency, b.currency) AS currency,
       COALESCE(a.sales, 0) AS sales, COALESCE(a.revenue, 0) AS revenue_minor,
       COALESCE(b.refunds, 0) AS refunds, COALESCE(b.refunded, 0) AS refunded_minor
FROM day_sales a FULL JOIN day_refunds b ON b.currency = a.currency
ORDER BY 1
"""
_VOIDED = "SELECT count(*) FROM sales WHERE business_day = $1 AND status = 'voided'"
_TOP = """
SELECT l.product_id, p.sku, p.name, sum(l.quantity) AS quantity,
       sum(l.line_total_minor) AS revenue_minor, s.currency
FROM sales s JOIN sale_lines l ON l.sale_id = s.id JOIN products p ON p.id = l.product_id
WHERE s.business_day = $1 AND s.status = 'completed'
GROUP BY l.product_id, p.sku, p.name, s.currency
ORDER BY quantity DESC, revenue_minor DESC, p.sku
LIMIT $2
"""


async def get_prices(
    conn: asyncpg.Connection, product_ids: list[uuid.UUID]
) -> dict[uuid.UUID, asyncpg.Record]:
    """Price, currency and active flag of each product that exists among `product_ids`."""
    return {row["id"]: row for row in await conn.fetch(PRICES, product_ids)}


async def insert_sale(
    conn: asyncpg.Connection,
    *,
    cashier_id: uuid.UUID,
    customer_id: uuid.UUID | None,
    currency: str,
    total_minor: int,
    timezone: str,
    lines: Sequence[tuple[uuid.UUID, int, int]],
    movements: Sequence[tuple[uuid.UUID, int]],
) -> asyncpg.Record:
    """The sale, its lines (product, quantity, unit price) and its `sale` movements (product,
    quantity taken); returns id, business_day, created_at and line_ids."""
    row: asyncpg.Record = await conn.fetchrow(
        INSERT_SALE,
        cashier_id,
        customer_id,
        currency,
        total_minor,
        timezone,
        [product for product, _, _ in lines],
        [quantity for _, quantity, _ in lines],
        [price for _, _, price in lines],
        [product for product, _ in movements],
        [quantity for _, quantity in movements],
    )
    return row


async def set_lock_timeout(conn: asyncpg.Connection, seconds: float) -> None:
    """Until the transaction ends, a lock wait longer than `seconds` fails (503 with
    `Retry-After` through the kit)."""
    await conn.execute(_LOCK_TIMEOUT, f"{max(1, round(seconds * 1000))}ms")


async def today(conn: asyncpg.Connection, timezone: str) -> date:
    """The business day now (the transaction's start) in `timezone`."""
    result: date = await conn.fetchval(_TODAY, timezone)
    return result


async def get_sale(conn: asyncpg.Connection, sale_id: uuid.UUID) -> SaleHeader | None:
    row = await conn.fetchrow(_GET_SALE, sale_id)
    return None if row is None else SaleHeader(**dict(row))


async def get_sale_lines(conn: asyncpg.Connection, sale_id: uuid.UUID) -> list[SaleLine]:
    return [SaleLine(**dict(row)) for row in await conn.fetch(_LINES, sale_id)]


async def list_sales(
    conn: asyncpg.Connection,
    cashier_id: uuid.UUID | None,
    day: date | None,
    after: tuple[Any, ...] | None,
    fetch: int,
) -> list[SaleHeader]:
    if after is None:
        rows = await conn.fetch(_LIST_FIRST, cashier_id, day, fetch)
    else:
        rows = await conn.fetch(_LIST_AFTER, cashier_id, day, fetch, *after)
    return [SaleHeader(**dict(row)) for row in rows]


async def lock_sale(conn: asyncpg.Connection, sale_id: uuid.UUID) -> asyncpg.Record | None:
    """The sale's status, day and currency; locked until commit, so that voids and refunds of
    one sale take turns."""
    row: asyncpg.Record | None = await conn.fetchrow(_LOCK_SALE, sale_id)
    return row


async def has_refunds(conn: asyncpg.Connection, sale_id: uuid.UUID) -> bool:
    """Whether the sale has refunds; read after `lock_sale`, it sees every one committed."""
    refunded: bool = await conn.fetchval(_HAS_REFUNDS, sale_id)
    return refunded


async def sold_per_product(
    conn: asyncpg.Connection, sale_id: uuid.UUID
) -> list[tuple[uuid.UUID, int]]:
    """(product, quantity) sold by the sale, in ascending product order."""
    return [
        (row["product_id"], row["quantity"]) for row in await conn.fetch(_SOLD_PER_PRODUCT, sale_id)
    ]


async def void_sale(
    conn: asyncpg.Connection, sale_id: uuid.UUID, user_id: uuid.UUID, reason: str
) -> None:
    await conn.execute(_VOID, sale_id, user_id, reason)


async def insert_refund(
    conn: asyncpg.Connection,
    *,
    sale_id: uuid.UUID,
    user_id: uuid.UUID,
    reason: str,
    total_minor: int,
    timezone: str,
    lines: Sequence[RefundLine],
) -> asyncpg.Record:
    row: asyncpg.Record = await conn.fetchrow(
        _INSERT_REFUND,
        sale_id,
        user_id,
        reason,
        total_minor,
        timezone,
        [line.sale_line_id for line in lines],
        [line.quantity for line in lines],
        [line.amount_minor for line in lines],
        [line.restock for line in lines],
    )
    return row


async def day_totals(conn: asyncpg.Connection, day: date) -> list[CurrencyTotals]:
    totals = []
    for row in await conn.fetch(_TOTALS, day):
        revenue, refunded = int(row["revenue_minor"]), int(row["refunded_minor"])
        totals.append(
            CurrencyTotals(
                currency=row["currency"],
                sales=row["sales"],
                revenue_minor=revenue,
                refunds=row["refunds"],
                refunded_minor=refunded,
                net_minor=revenue - refunded,
            )
        )
    return totals


async def day_voided(conn: asyncpg.Connection, day: date) -> int:
    result: int = await conn.fetchval(_VOIDED, day)
    return result


async def top_products(conn: asyncpg.Connection, day: date, limit: int) -> list[TopProduct]:
    return [
        TopProduct(**{**dict(row), "revenue_minor": int(row["revenue_minor"])})
        for row in await conn.fetch(_TOP, day, limit)
    ]
