"""Stock's SQL: one function per statement.

Every change of `inventory.on_hand` goes with a movement in the same transaction, and every
decrement is one conditional UPDATE (`... AND on_hand >= $2`): the row lock it takes makes
concurrent sellers of one product queue for it, and the condition, checked on the row as it is
after the one before committed, is what keeps stock from going negative. Several products are
always locked in ascending id order, so that two transactions never wait for each other.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

import asyncpg

from atriz_core.kit.pagination import Keyset
from atriz_pshop.stock.schemas import Drift, Movement, StockLevel

__all__ = [
    "BY_ID_DESC",
    "BY_SKU",
    "MAX_ON_HAND",
    "add_stock",
    "count_products",
    "get_level",
    "insert_movements",
    "list_levels",
    "list_movements",
    "lock_on_hand",
    "on_hand",
    "reconcile",
    "set_on_hand",
    "take_stock",
]

BY_SKU = Keyset("pshop.stock.by_sku", ("p.sku", "p.id"))
BY_ID_DESC = Keyset("pshop.stock.movements.newest", ("m.id",), descending=True)

TAKE_STOCK = """
UPDATE inventory SET on_hand = on_hand - $2, updated_at = now()
WHERE product_id = $1 AND on_hand >= $2
RETURNING on_hand
"""
# `inventory.on_hand` is an integer: the most a product's stock can be.
MAX_ON_HAND = 2**31 - 1
# The sum in bigint, so that one past the integer range is refused here (None) rather than
# failing the statement.
_ADD_STOCK = f"""
UPDATE inventory SET on_hand = on_hand + $2, updated_at = now()
WHERE product_id = $1 AND on_hand::bigint + $2 BETWEEN 0 AND {MAX_ON_HAND}
RETURNING on_hand
"""
_ON_HAND = "SELECT on_hand FROM inventory WHERE product_id = $1"
_LOCK_ON_HAND = "SELECT on_hand FROM inventory WHERE product_id = $1 FOR UPDATE"
_SET_ON_HAND = "UPDATE inventory SET on_hand = $2, updated_at = now() WHERE product_id = $1"
INSERT_MOVEMENTS = """
INSERT INTO stock_movements (product_id, quantity, reason, sale_id, refund_id, user_id, note)
SELECT product_id, quantity, $3, $4, $5, $6, $7
FROM unnest($1::uuid[], $2::integer[]) AS m (product_id, quantity)
"""
_LEVEL = """
SELECT p.id AS product_id, p.sku, p.name, p.active, i.on_hand, i.reorder_level,
       i.on_hand <= i.reorder_level AS low
FROM products p JOIN inventory i ON i.product_id = p.id
"""
_GET_LEVEL = f"{_LEVEL} WHERE p.id = $1"
_LIST_LEVELS = f"""{_LEVEL}
WHERE ($1::boolean IS NOT TRUE OR (i.on_hand <= i.reorder_level AND p.active))
  {{after}}
ORDER BY {BY_SKU.order_by()} LIMIT $2"""
_LIST_LEVELS_FIRST = _LIST_LEVELS.format(after="")
_LIST_LEVELS_AFTER = _LIST_LEVELS.format(after=f"AND {BY_SKU.after(3)}")
_MOVEMENTS = """
SELECT m.id, m.product_id, m.quantity, m.reason, m.sale_id, m.refund_id, m.user_id, m.note,
       m.created_at
FROM stock_movements m WHERE m.product_id = $1 {after}
ORDER BY {order} LIMIT $2"""
_MOVEMENTS_FIRST = _MOVEMENTS.format(after="", order=BY_ID_DESC.order_by())
_MOVEMENTS_AFTER = _MOVEMENTS.format(
    after=f"AND {BY_ID_DESC.after(3)}", order=BY_ID_DESC.order_by()
)
# One statement, so one snapshot: on-hand and the ledger as of the same instant.
_RECONCILE = """
SELECT i.product_id, i.on_hand, COALESCE(m.total, 0)::bigint AS ledger
FROM inventory i
LEFT JOIN (SELECT product_id, sum(quantity) AS total FROM stock_movements GROUP BY product_id) m
    ON m.product_id = i.product_id
WHERE i.on_hand <> COALESCE(m.total, 0)
ORDER BY i.product_id
"""
_COUNT_PRODUCTS = "SELECT count(*) FROM inventory"


async def take_stock(conn: asyncpg.Connection, product_id: uuid.UUID, quantity: int) -> bool:
    """Decrement on-hand by `quantity` unless that would take it below zero."""
    return await conn.fetchval(TAKE_STOCK, product_id, quantity) is not None


async def add_stock(conn: asyncpg.Connection, product_id: uuid.UUID, quantity: int) -> int | None:
    """Add `quantity` (signed) to on-hand; None when that would take it below zero or past
    `MAX_ON_HAND` (or there is no such product)."""
    result: int | None = await conn.fetchval(_ADD_STOCK, product_id, quantity)
    return result


async def on_hand(conn: asyncpg.Connection, product_id: uuid.UUID) -> int | None:
    result: int | None = await conn.fetchval(_ON_HAND, product_id)
    return result


async def lock_on_hand(conn: asyncpg.Connection, product_id: uuid.UUID) -> int | None:
    """On-hand, with the row locked until the transaction ends."""
    result: int | None = await conn.fetchval(_LOCK_ON_HAND, product_id)
    return result


async def set_on_hand(conn: asyncpg.Connection, product_id: uuid.UUID, quantity: int) -> None:
    await conn.execute(_SET_ON_HAND, product_id, quantity)


async def insert_movements(
    conn: asyncpg.Connection,
    changes: Sequence[tuple[uuid.UUID, int]],
    *,
    reason: str,
    user_id: uuid.UUID,
    note: str = "",
    sale_id: uuid.UUID | None = None,
    refund_id: uuid.UUID | None = None,
) -> None:
    """Append one movement per (product, signed quantity)."""
    await conn.execute(
        INSERT_MOVEMENTS,
        [product for product, _ in changes],
        [quantity for _, quantity in changes],
        reason,
        sale_id,
        refund_id,
        user_id,
        note,
    )


async def get_level(conn: asyncpg.Connection, product_id: uuid.UUID) -> StockLevel | None:
    row = await conn.fetchrow(_GET_LEVEL, product_id)
    return None if row is None else StockLevel(**dict(row))


async def list_levels(
    conn: asyncpg.Connection, low_only: bool, after: tuple[Any, ...] | None, fetch: int
) -> list[StockLevel]:
    if after is None:
        rows = await conn.fetch(_LIST_LEVELS_FIRST, low_only, fetch)
    else:
        rows = await conn.fetch(_LIST_LEVELS_AFTER, low_only, fetch, *after)
    return [StockLevel(**dict(row)) for row in rows]


async def list_movements(
    conn: asyncpg.Connection, product_id: uuid.UUID, after: tuple[Any, ...] | None, fetch: int
) -> list[Movement]:
    if after is None:
        rows = await conn.fetch(_MOVEMENTS_FIRST, product_id, fetch)
    else:
        rows = await conn.fetch(_MOVEMENTS_AFTER, product_id, fetch, *after)
    return [Movement(**dict(row)) for row in rows]


async def reconcile(conn: asyncpg.Connection) -> list[Drift]:
    """Each product whose on-hand differs from the sum of its movements."""
    return [Drift(**dict(row)) for row in await conn.fetch(_RECONCILE)]


async def count_products(conn: asyncpg.Connection) -> int:
    result: int = await conn.fetchval(_COUNT_PRODUCTS)
    return result
