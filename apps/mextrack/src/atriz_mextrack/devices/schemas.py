"""Device token bodies."""

from __future__ import annotations

import uuid
from datetime import datetime

import msgspec

__all__ = ["DeviceToken"]


class DeviceToken(msgspec.Struct):
    """A new device token: shown this once, kept only as its SHA-256."""

    vehicle_id: uuid.UUID
    token: str
    """Send it as `Authorization: Bearer <token>` to `POST /vehicles/{id}/positions`."""
    created_at: datetime
