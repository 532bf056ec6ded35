"""The catalogue's rules: unique SKUs and barcodes, ISO 4217 prices, deactivation."""

from __future__ import annotations

import uuid

import asyncpg
import msgspec

from atriz_core.errors import ConflictError, FieldProblem, InvalidInputError, NotFoundError
from atriz_core.kit.pagination import CursorCodec, Page
from atriz_pshop.products import repository
from atriz_pshop.products.currencies import ISO_4217
from atriz_pshop.products.schemas import Product, ProductCreate, ProductUpdate
from atriz_pshop.stock import repository as stock

__all__ = [
    "create_product",
    "get_product",
    "get_product_by_barcode",
    "list_products",
    "set_active",
    "update_product",
]


def _check_currency(currency: str) -> None:
    if currency not in ISO_4217:
        raise InvalidInputError.for_field("currency", "is not an ISO 4217 currency code")


def _check_repeats(barcodes: list[str]) -> None:
    seen: set[str] = set()
    for index, barcode in enumerate(barcodes):
        if barcode in seen:
            raise InvalidInputError.for_field(f"barcodes[{index}]", "is listed twice")
        seen.add(barcode)


async def _check_barcodes_free(
    conn: asyncpg.Connection, barcodes: list[str], product_id: uuid.UUID | None
) -> None:
    """409 naming each barcode that belongs to another product."""
    owners = await repository.find_barcodes(conn, barcodes)
    taken = [
        FieldProblem(f"barcodes[{index}]", "belongs to another product")
        for index, barcode in enumerate(barcodes)
        if barcode in owners and owners[barcode] != product_id
    ]
    if taken:
        raise ConflictError("a barcode belongs to another product", taken)


async def get_product(conn: asyncpg.Connection, product_id: uuid.UUID) -> Product:
    product = await repository.get_product(conn, product_id)
    if product is None:
        raise NotFoundError(f"no product {product_id}")
    return product


async def get_product_by_barcode(conn: asyncpg.Connection, barcode: str) -> Product:
    product = await repository.get_product_by_barcode(conn, barcode)
    if product is None:
        raise NotFoundError("no product has this barcode")
    return product


async def list_products(
    conn: asyncpg.Connection,
    cursors: CursorCodec,
    *,
    search: str | None,
    active: bool | None,
    limit: int,
    cursor: str | None,
) -> Page[Product]:
    after = cursors.position(cursor, repository.BY_NAME)
    rows = await repository.list_products(conn, search, active, after, limit + 1)
    return cursors.page(rows, limit, repository.BY_NAME, lambda p: (p.name, p.id))


async def create_product(
    conn: asyncpg.Connection, user_id: uuid.UUID, data: ProductCreate
) -> Product:
    """A new product with its inventory row; opening stock goes to the ledger as a restock."""
    _check_currency(data.currency)
    _check_repeats(data.barcodes)
    await _check_barcodes_free(conn, data.barcodes, None)
    product_id = await repository.insert_product(
        conn, data.sku, data.name, data.description, data.price_minor, data.currency
    )
    await repository.insert_inventory(conn, product_id, data.initial_stock, data.reorder_level)
    if data.barcodes:
        await repository.insert_barcodes(conn, product_id, data.barcodes)
    if data.initial_stock:
        await stock.insert_movements(
            conn,
            [(product_id, data.initial_stock)],
            reason="restock",
            user_id=user_id,
            note="opening stock",
        )
    return await get_product(conn, product_id)


async def update_product(
    conn: asyncpg.Connection, product_id: uuid.UUID, data: ProductUpdate
) -> Product:
    """Change the fields sent; a new price applies to sales from now on."""
    if not isinstance(data.currency, msgspec.UnsetType):
        _check_currency(data.currency)
    found = await repository.update_product(
        conn,
        product_id,
        name=None if isinstance(data.name, msgspec.UnsetType) else data.name,
        description=None if isinstance(data.description, msgspec.UnsetType) else data.description,
        price_minor=None if isinstance(data.price_minor, msgspec.UnsetType) else data.price_minor,
        currency=None if isinstance(data.currency, msgspec.UnsetType) else data.currency,
    )
    if not found:
        raise NotFoundError(f"no product {product_id}")
    if not isinstance(data.reorder_level, msgspec.UnsetType):
        await repository.update_reorder_level(conn, product_id, data.reorder_level)
    if not isinstance(data.barcodes, msgspec.UnsetType):
        barcodes = data.barcodes
        _check_repeats(barcodes)
        await _check_barcodes_free(conn, barcodes, product_id)
        current = await repository.get_product(conn, product_id)
        assert current is not None
        await repository.remove_barcodes(conn, product_id, barcodes)
        new = [barcode for barcode in barcodes if barcode not in current.barcodes]
        if new:
            await repository.insert_barcodes(conn, product_id, new)
    return await get_product(conn, product_id)


async def set_active(conn: asyncpg.Connection, product_id: uuid.UUID, active: bool) -> Product:
    """Deactivate (no longer sold; history and stock stay) or activate again."""
    if not await repository.set_active(conn, product_id, active):
        raise NotFoundError(f"no product {product_id}")
    return await get_product(conn, product_id)
