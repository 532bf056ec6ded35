"""Vehicle request and response bodies."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

import msgspec

from atriz_core.kit.text import ONE_LINE

__all__ = ["Status", "Vehicle", "VehicleCreate", "VehicleUpdate"]

Name = Annotated[str, msgspec.Meta(min_length=1, max_length=100, pattern=ONE_LINE)]
Plate = Annotated[
    str, msgspec.Meta(min_length=1, max_length=20, pattern=ONE_LINE, description="Unique.")
]
Vin = Annotated[
    str,
    msgspec.Meta(
        max_length=40,
        description="17 characters, no I, O or Q, with a valid check digit (ninth character).",
    ),
]
Status = Literal["active", "inactive"]


class VehicleCreate(msgspec.Struct, forbid_unknown_fields=True):
    name: Name
    plate: Plate
    vin: Vin | None = None
    owner_id: uuid.UUID | None = None
    """Another user's, for a dispatcher or an admin; the caller's own when left out."""


class VehicleUpdate(msgspec.Struct, forbid_unknown_fields=True):
    """The fields to change; those left out stay as they are."""

    name: Name | msgspec.UnsetType = msgspec.UNSET
    plate: Plate | msgspec.UnsetType = msgspec.UNSET
    vin: Vin | msgspec.UnsetType | None = msgspec.UNSET
    """null clears it."""
    status: Status | msgspec.UnsetType = msgspec.UNSET
    owner_id: uuid.UUID | msgspec.UnsetType = msgspec.UNSET
    """Reassign the vehicle (dispatcher or admin only) to an active user."""


class Vehicle(msgspec.Struct):
    id: uuid.UUID
    owner_id: uuid.UUID | None
    """null once the owner was deleted: an admin or dispatcher may reassign the vehicle."""
    name: str
    plate: str
    vin: str | None
    status: Status
    owner_suspended_at: datetime | None
    """Set while the owner is deactivated: the vehicle accepts no positions then."""
    created_at: datetime
    updated_at: datetime
