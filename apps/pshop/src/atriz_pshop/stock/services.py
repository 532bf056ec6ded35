"""Stock's rules: restock, adjust and count by a manager, each with its movement."""

from __future__ import annotations

import uuid

import asyncpg

from atriz_core.errors import ConflictError, FieldProblem, InvalidInputError, NotFoundError
from atriz_core.kit.pagination import CursorCodec, Page
from atriz_pshop.stock import repository
from atriz_pshop.stock.schemas import (
    Adjustment,
    Count,
    Movement,
    Reconciliation,
    Restock,
    StockLevel,
)

__all__ = [
    "add_to_stock",
    "adjust",
    "count",
    "get_level",
    "list_levels",
    "list_movements",
    "reconcile",
    "restock",
]


async def add_to_stock(
    conn: asyncpg.Connection, product_id: uuid.UUID, quantity: int, *, field: str | None
) -> None:
    """Add `quantity` (signed) to the product's on-hand: 404 for no product, 409 (naming
    `field`, the request's part that asked for it) when on-hand would go below zero or past
    the most it can hold."""
    if await repository.add_stock(conn, product_id, quantity) is not None:
        return
    available = await repository.on_hand(conn, product_id)
    if available is None:
        raise NotFoundError(f"no product {product_id}")
    if quantity < 0:
        detail = f"only {available} in stock: the adjustment would take it below zero"
        reason = f"would take stock below zero ({available} on hand)"
    else:
        detail = (
            f"{available} in stock: {quantity} more would pass the most a product's stock"
            f" can be ({repository.MAX_ON_HAND})"
        )
        reason = f"would take stock past {repository.MAX_ON_HAND} ({available} on hand)"
    raise ConflictError(detail, [FieldProblem(field, reason)] if field else None)


async def get_level(conn: asyncpg.Connection, product_id: uuid.UUID) -> StockLevel:
    level = await repository.get_level(conn, product_id)
    if level is None:
        raise NotFoundError(f"no product {product_id}")
    return level


async def restock(
    conn: asyncpg.Connection, product_id: uuid.UUID, user_id: uuid.UUID, data: Restock
) -> StockLevel:
    """Goods received: on-hand grows by `quantity`."""
    await add_to_stock(conn, product_id, data.quantity, field="quantity")
    await repository.insert_movements(
        conn, [(product_id, data.quantity)], reason="restock", user_id=user_id, note=data.note
    )
    return await get_level(conn, product_id)


async def adjust(
    conn: asyncpg.Connection, product_id: uuid.UUID, user_id: uuid.UUID, data: Adjustment
) -> StockLevel:
    """A signed correction; refused (409) if it would take on-hand below zero."""
    if data.quantity == 0:
        raise InvalidInputError.for_field("quantity", "must not be zero")
    await add_to_stock(conn, product_id, data.quantity, field="quantity")
    await repository.insert_movements(
        conn, [(product_id, data.quantity)], reason="adjustment", user_id=user_id, note=data.note
    )
    return await get_level(conn, product_id)


async def count(
    conn: asyncpg.Connection, product_id: uuid.UUID, user_id: uuid.UUID, data: Count
) -> StockLevel:
    """A physical count sets on-hand; the difference (possibly 0) is the `count` movement."""
    before = await repository.lock_on_hand(conn, product_id)
    if before is None:
        raise NotFoundError(f"no product {product_id}")
    await repository.set_on_hand(conn, product_id, data.counted)
    await repository.insert_movements(
        conn,
        [(product_id, data.counted - before)],
        reason="count",
        user_id=user_id,
        note=data.note,
    )
    return await get_level(conn, product_id)


async def list_levels(
    conn: asyncpg.Connection,
    cursors: CursorCodec,
    *,
    low_only: bool,
    limit: int,
    cursor: str | None,
) -> Page[StockLevel]:
    after = cursors.position(cursor, repository.BY_SKU)
    rows = await repository.list_levels(conn, low_only, after, limit + 1)
    return cursors.page(rows, limit, repository.BY_SKU, lambda level: (level.sku, level.product_id))


async def list_movements(
    conn: asyncpg.Connection,
    cursors: CursorCodec,
    product_id: uuid.UUID,
    *,
    limit: int,
    cursor: str | None,
) -> Page[Movement]:
    after = cursors.position(cursor, repository.BY_ID_DESC)
    rows = await repository.list_movements(conn, product_id, after, limit + 1)
    if not rows and after is None and await repository.on_hand(conn, product_id) is None:
        raise NotFoundError(f"no product {product_id}")
    return cursors.page(rows, limit, repository.BY_ID_DESC, lambda movement: (movement.id,))


async def reconcile(conn: asyncpg.Connection) -> Reconciliation:
    """Every product whose on-hand differs from the sum of its movements (never any)."""
    drift = await repository.reconcile(conn)
    return Reconciliation(products=await repository.count_products(conn), drift=drift)
