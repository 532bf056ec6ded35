"""The catalogue's SQL: one function per statement."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg

from atriz_core.kit.pagination import Keyset
from atriz_pshop.products.schemas import Product

__all__ = [
    "BY_NAME",
    "find_barcodes",
    "get_product",
    "get_product_by_barcode",
    "insert_barcodes",
    "insert_inventory",
    "insert_product",
    "list_products",
    "remove_barcodes",
    "set_active",
    "update_product",
]

BY_NAME = Keyset("pshop.products.by_name", ("p.name", "p.id"))

_SELECT = """
SELECT p.id, p.sku, p.name, p.description, p.price_minor, p.currency, p.active,
       COALESCE((SELECT array_agg(b.barcode ORDER BY b.barcode) FROM product_barcodes b
                 WHERE b.product_id = p.id), ARRAY[]::text[]) AS barcodes,
       i.on_hand, i.reorder_level, p.created_at, p.updated_at
FROM products p JOIN inventory i ON i.product_id = p.id
"""
_GET = f"{_SELECT} WHERE p.id = $1"
_GET_BY_BARCODE = f"""{_SELECT}
WHERE p.id = (SELECT product_id FROM product_barcodes WHERE barcode = $1)"""
# The search matches a part of the name (case-insensitive), or the SKU or a barcode exactly.
_LIST = f"""{_SELECT}
WHERE ($1::text IS NULL
       OR strpos(lower(p.name), lower($1)) > 0
       OR p.sku = $1
       OR EXISTS (SELECT 1 FROM product_barcodes b WHERE b.product_id = p.id AND b.barcode = $1))
  AND ($2::boolean IS NULL OR p.active = $2)
  {{after}}
ORDER BY {BY_NAME.order_by()} LIMIT $3"""
_LIST_FIRST = _LIST.format(after="")
_LIST_AFTER = _LIST.format(after=f"AND {BY_NAME.after(4)}")

_INSERT = """
INSERT INTO products (sku, name, description, price_minor, currency)
VALUES ($1, $2, $3, $4, $5)
RETURNING id
"""
_INSERT_INVENTORY = """
INSERT INTO inventory (product_id, on_hand, reorder_level) VALUES ($1, $2, $3)
"""
_INSERT_BARCODES = """
INSERT INTO product_barcodes (barcode, product_id)
SELECT barcode, $2 FROM unnest($1::text[]) AS barcode
"""
_FIND_BARCODES = "SELECT barcode, product_id FROM product_barcodes WHERE barcode = ANY($1::text[])"
_REMOVE_BARCODES = """
DELETE FROM product_barcodes WHERE product_id = $1 AND NOT (barcode = ANY($2::text[]))
"""
_UPDATE = """
UPDATE products SET
    name = COALESCE($2, name),
    description = COALESCE($3, description),
    price_minor = COALESCE($4, price_minor),
    currency = COALESCE($5, currency),
    updated_at = now()
WHERE id = $1
RETURNING id
"""
_UPDATE_REORDER = """
UPDATE inventory SET reorder_level = COALESCE($2, reorder_level) WHERE product_id = $1
"""
_SET_ACTIVE = "UPDATE products SET active = $2, updated_at = now() WHERE id = $1 RETURNING id"


def _product(row: asyncpg.Record) -> Product:
    return Product(**{**dict(row), "barcodes": list(row["barcodes"])})


async def get_product(conn: asyncpg.Connection, product_id: uuid.UUID) -> Product | None:
    row = await conn.fetchrow(_GET, product_id)
    return None if row is None else _product(row)


async def get_product_by_barcode(conn: asyncpg.Connection, barcode: str) -> Product | None:
    row = await conn.fetchrow(_GET_BY_BARCODE, barcode)
    return None if row is None else _product(row)


async def list_products(
    conn: asyncpg.Connection,
    search: str | None,
    active: bool | None,
    after: tuple[Any, ...] | None,
    fetch: int,
) -> list[Product]:
    if after is None:
        rows = await conn.fetch(_LIST_FIRST, search, active, fetch)
    else:
        rows = await conn.fetch(_LIST_AFTER, search, active, fetch, *after)
    return [_product(row) for row in rows]


async def insert_product(
    conn: asyncpg.Connection,
    sku: str,
    name: str,
    description: str,
    price_minor: int,
    currency: str,
) -> uuid.UUID:
    product_id: uuid.UUID = await conn.fetchval(
        _INSERT, sku, name, description, price_minor, currency
    )
    return product_id


async def insert_inventory(
    conn: asyncpg.Connection, product_id: uuid.UUID, on_hand: int, reorder_level: int
) -> None:
    await conn.execute(_INSERT_INVENTORY, product_id, on_hand, reorder_level)


async def find_barcodes(conn: asyncpg.Connection, barcodes: list[str]) -> dict[str, uuid.UUID]:
    """Which of `barcodes` exist, and the product of each."""
    rows = await conn.fetch(_FIND_BARCODES, barcodes)
    return {row["barcode"]: row["product_id"] for row in rows}


async def insert_barcodes(
    conn: asyncpg.Connection, product_id: uuid.UUID, barcodes: list[str]
) -> None:
    await conn.execute(_INSERT_BARCODES, barcodes, product_id)


async def remove_barcodes(conn: asyncpg.Connection, product_id: uuid.UUID, keep: list[str]) -> None:
    await conn.execute(_REMOVE_BARCODES, product_id, keep)


async def update_product(
    conn: asyncpg.Connection,
    product_id: uuid.UUID,
    *,
    name: str | None,
    description: str | None,
    price_minor: int | None,
    currency: str | None,
) -> bool:
    return (
        await conn.fetchval(_UPDATE, product_id, name, description, price_minor, currency)
        is not None
    )


async def update_reorder_level(
    conn: asyncpg.Connection, product_id: uuid.UUID, reorder_level: int | None
) -> None:
    await conn.execute(_UPDATE_REORDER, product_id, reorder_level)


async def set_active(conn: asyncpg.Connection, product_id: uuid.UUID, active: bool) -> bool:
    return await conn.fetchval(_SET_ACTIVE, product_id, active) is not None
