"""Request and response bodies of stock."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

import msgspec

from atriz_core.kit.text import NO_NUL

__all__ = [
    "Adjustment",
    "Count",
    "Drift",
    "Movement",
    "Reconciliation",
    "Restock",
    "StockLevel",
]

Note = Annotated[str, msgspec.Meta(max_length=500, pattern=NO_NUL)]
Reason = Annotated[str, msgspec.Meta(min_length=1, max_length=500, pattern=NO_NUL)]
MovementReason = Literal["sale", "restock", "adjustment", "count", "void", "refund"]


class Restock(msgspec.Struct, forbid_unknown_fields=True):
    quantity: Annotated[int, msgspec.Meta(ge=1, le=10**6)]
    note: Note = ""


class Adjustment(msgspec.Struct, forbid_unknown_fields=True):
    """A correction by a signed quantity (breakage, theft, a found box), with its reason."""

    quantity: Annotated[int, msgspec.Meta(ge=-(10**6), le=10**6)]
    note: Reason


class Count(msgspec.Struct, forbid_unknown_fields=True):
    """A physical count: on-hand becomes `counted`, the difference goes to the ledger."""

    counted: Annotated[int, msgspec.Meta(ge=0, le=10**7)]
    note: Note = ""


class StockLevel(msgspec.Struct):
    product_id: uuid.UUID
    sku: str
    name: str
    active: bool
    on_hand: int
    reorder_level: int
    low: bool
    """On-hand at or below the reorder level."""


class Movement(msgspec.Struct):
    id: int
    product_id: uuid.UUID
    quantity: int
    reason: MovementReason
    sale_id: uuid.UUID | None
    refund_id: uuid.UUID | None
    user_id: uuid.UUID
    note: str
    created_at: datetime


class Drift(msgspec.Struct):
    product_id: uuid.UUID
    on_hand: int
    ledger: int
    """The sum of the product's movements."""


class Reconciliation(msgspec.Struct):
    """On-hand against the ledger's sum for every product; `drift` is always empty."""

    products: int
    drift: list[Drift]
