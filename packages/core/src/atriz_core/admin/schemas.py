"""Request and response bodies of the `/admin` routes."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

import msgspec

from atriz_core.kit.text import END, NO_NUL

__all__ = [
    "ROLE_NAME_PATTERN",
    "Role",
    "RoleCreate",
    "RoleGrant",
    "RoleName",
    "UserSummary",
]

# The format the `roles_name_format` check enforces. Python's `$` also matches before a final
# newline (PostgreSQL's does not): `(?!\n)` refuses that here, as a 400, not a failed check.
ROLE_NAME_PATTERN = r"^[a-z][a-z0-9_]{0,39}(\.[a-z][a-z0-9_]{0,39})?" + END
RoleName = Annotated[
    str,
    msgspec.Meta(
        min_length=1,
        max_length=81,
        pattern=ROLE_NAME_PATTERN,
        description="global (`admin`) or scoped to one app (`pshop.manager`)",
    ),
]


class UserSummary(msgspec.Struct):
    id: uuid.UUID
    email: str
    name: str
    is_active: bool
    email_verified: bool
    roles: list[str]
    created_at: datetime
    last_login_at: datetime | None
    deleted_at: datetime | None


class Role(msgspec.Struct):
    name: str
    description: str
    created_at: datetime


class RoleCreate(msgspec.Struct, forbid_unknown_fields=True):
    name: RoleName
    description: Annotated[str, msgspec.Meta(max_length=500, pattern=NO_NUL)] = ""


class RoleGrant(msgspec.Struct, forbid_unknown_fields=True):
    role: RoleName
