"""Request and response bodies of the catalogue."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

import msgspec

from atriz_core.kit.text import END, NO_NUL, ONE_LINE

__all__ = [
    "Barcode",
    "Currency",
    "Product",
    "ProductCreate",
    "ProductUpdate",
]

Sku = Annotated[str, msgspec.Meta(pattern=r"^[!-~]{1,64}" + END, description="1-64 visible ASCII")]
Barcode = Annotated[
    str,
    msgspec.Meta(pattern=r"^[!-~]{1,64}" + END, description="EAN/UPC/Code 128: 1-64 visible ASCII"),
]
Name = Annotated[str, msgspec.Meta(min_length=1, max_length=200, pattern=ONE_LINE)]
Description = Annotated[str, msgspec.Meta(max_length=2000, pattern=NO_NUL)]
PriceMinor = Annotated[
    int, msgspec.Meta(ge=0, le=10**12, description="Price in the currency's minor units (cents)")
]
Currency = Annotated[
    str, msgspec.Meta(pattern=r"^[A-Z]{3}" + END, description="ISO 4217 code, upper case: EUR")
]
Level = Annotated[int, msgspec.Meta(ge=0, le=10**7)]
Barcodes = Annotated[list[Barcode], msgspec.Meta(max_length=20)]


class ProductCreate(msgspec.Struct, forbid_unknown_fields=True):
    sku: Sku
    name: Name
    price_minor: PriceMinor
    currency: Currency
    description: Description = ""
    barcodes: Barcodes = msgspec.field(default_factory=list)
    reorder_level: Level = 0
    """Stock at or below this level shows in the low-stock list."""
    initial_stock: Level = 0
    """Opening stock, recorded in the ledger as a restock."""


class ProductUpdate(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    """Only the fields sent change; `barcodes`, when sent, replaces the product's set."""

    name: Name | msgspec.UnsetType = msgspec.UNSET
    description: Description | msgspec.UnsetType = msgspec.UNSET
    price_minor: PriceMinor | msgspec.UnsetType = msgspec.UNSET
    currency: Currency | msgspec.UnsetType = msgspec.UNSET
    barcodes: Barcodes | msgspec.UnsetType = msgspec.UNSET
    reorder_level: Level | msgspec.UnsetType = msgspec.UNSET


class Product(msgspec.Struct):
    id: uuid.UUID
    sku: str
    name: str
    description: str
    price_minor: int
    currency: str
    active: bool
    barcodes: list[str]
    on_hand: int
    reorder_level: int
    created_at: datetime
    updated_at: datetime
