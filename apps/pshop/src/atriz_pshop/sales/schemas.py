"""Request and response bodies of sales."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated, Literal

import msgspec

from atriz_core.kit.text import NO_NUL

__all__ = [
    "DaySummary",
    "Refund",
    "RefundCreate",
    "RefundLineIn",
    "Sale",
    "SaleCreate",
    "SaleHeader",
    "SaleLine",
    "SaleLineIn",
    "ShortLine",
    "VoidRequest",
]

Quantity = Annotated[int, msgspec.Meta(ge=1, le=10_000)]
Note = Annotated[str, msgspec.Meta(max_length=500, pattern=NO_NUL)]


class SaleLineIn(msgspec.Struct, forbid_unknown_fields=True):
    product_id: uuid.UUID
    quantity: Quantity


class SaleCreate(msgspec.Struct, forbid_unknown_fields=True):
    lines: Annotated[list[SaleLineIn], msgspec.Meta(min_length=1, max_length=200)]
    customer_id: uuid.UUID | None = None
    """A registered customer (an active user of Atriz), if known."""


class SaleLine(msgspec.Struct):
    id: uuid.UUID
    line_no: int
    product_id: uuid.UUID
    quantity: int
    unit_price_minor: int
    """The product's price when the sale was made."""
    line_total_minor: int
    refunded_quantity: int


class Sale(msgspec.Struct):
    id: uuid.UUID
    cashier_id: uuid.UUID
    cashier_removed: bool
    """The cashier's account was deleted: the sale keeps its history (see the README)."""
    customer_id: uuid.UUID | None
    status: Literal["completed", "voided"]
    currency: str
    total_minor: int
    refunded_minor: int
    business_day: date
    created_at: datetime
    voided_at: datetime | None
    lines: list[SaleLine]


class SaleHeader(msgspec.Struct):
    """A sale in a list (its lines through `GET /sales/{id}`)."""

    id: uuid.UUID
    cashier_id: uuid.UUID
    cashier_removed: bool
    customer_id: uuid.UUID | None
    status: Literal["completed", "voided"]
    currency: str
    total_minor: int
    refunded_minor: int
    business_day: date
    created_at: datetime
    voided_at: datetime | None


class ShortLine(msgspec.Struct):
    """A product the sale wants more of than there is (lines of one product counted together)."""

    product_id: uuid.UUID
    requested: int
    available: int


class VoidRequest(msgspec.Struct, forbid_unknown_fields=True):
    reason: Note = ""


class RefundLineIn(msgspec.Struct, forbid_unknown_fields=True):
    sale_line_id: uuid.UUID
    quantity: Quantity
    restock: bool = True
    """Put the goods back on the shelf (a `refund` movement); false for damaged goods."""


class RefundCreate(msgspec.Struct, forbid_unknown_fields=True):
    lines: Annotated[list[RefundLineIn], msgspec.Meta(min_length=1, max_length=200)]
    reason: Note = ""


class RefundLine(msgspec.Struct):
    sale_line_id: uuid.UUID
    quantity: int
    amount_minor: int
    restock: bool


class Refund(msgspec.Struct):
    id: uuid.UUID
    sale_id: uuid.UUID
    user_id: uuid.UUID
    reason: str
    currency: str
    total_minor: int
    business_day: date
    created_at: datetime
    lines: list[RefundLine]


class CurrencyTotals(msgspec.Struct):
    currency: str
    sales: int
    revenue_minor: int
    """Completed (not voided) sales."""
    refunds: int
    refunded_minor: int
    net_minor: int


class TopProduct(msgspec.Struct):
    product_id: uuid.UUID
    sku: str
    name: str
    quantity: int
    revenue_minor: int
    currency: str


class DaySummary(msgspec.Struct):
    business_day: date
    timezone: str
    sales: int
    """Completed sales of the day (voided ones are counted apart)."""
    voided: int
    refunds: int
    """Refunds issued that day, whatever the day of their sale."""
    totals: list[CurrencyTotals]
    top_products: list[TopProduct]
