"""Request and response bodies of the `/auth` routes."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

import msgspec

from atriz_core.kit.text import END, ONE_LINE
from atriz_core.passwords.policy import MAX_LENGTH

__all__ = [
    "Accepted",
    "Email",
    "EmailVerificationConfirm",
    "Login",
    "Logout",
    "Me",
    "PasswordChange",
    "PasswordResetConfirm",
    "PasswordResetRequest",
    "Refresh",
    "Registration",
    "TokenPair",
    "User",
]

# A pragmatic shape check; deliverability is proven by the verification mail, not a regex.
# No control characters: PostgreSQL refuses a NUL in text, and none belongs in an address.
Email = Annotated[
    str,
    msgspec.Meta(
        min_length=3,
        max_length=254,
        pattern=r"^[^@\s\x00-\x1f\x7f]+@[^@\s\x00-\x1f\x7f]+\.[^@\s.\x00-\x1f\x7f]+" + END,
    ),
]
# Checked before any hashing, so an oversized password costs nothing. Limits are code points.
Password = Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_LENGTH)]
Name = Annotated[str, msgspec.Meta(min_length=1, max_length=200, pattern=ONE_LINE)]
OpaqueToken = Annotated[
    str, msgspec.Meta(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9_\-]+" + END)
]


class Registration(msgspec.Struct, forbid_unknown_fields=True):
    email: Email
    password: Password
    name: Name


class Login(msgspec.Struct, forbid_unknown_fields=True):
    email: Email
    password: Password


class Refresh(msgspec.Struct, forbid_unknown_fields=True):
    refresh_token: OpaqueToken


class Logout(msgspec.Struct, forbid_unknown_fields=True):
    refresh_token: OpaqueToken


class PasswordChange(msgspec.Struct, forbid_unknown_fields=True):
    current_password: Password
    new_password: Password


class PasswordResetRequest(msgspec.Struct, forbid_unknown_fields=True):
    email: Email


class PasswordResetConfirm(msgspec.Struct, forbid_unknown_fields=True):
    token: OpaqueToken
    new_password: Password


class EmailVerificationConfirm(msgspec.Struct, forbid_unknown_fields=True):
    token: OpaqueToken


class TokenPair(msgspec.Struct):
    access_token: str
    refresh_token: str
    expires_in: int
    """Seconds until the access token expires."""
    token_type: str = "bearer"  # noqa: S105 - the OAuth token type, not a secret


class User(msgspec.Struct):
    id: uuid.UUID
    email: str
    name: str
    email_verified: bool
    created_at: datetime


class Me(msgspec.Struct):
    id: uuid.UUID
    email: str
    name: str
    email_verified: bool
    roles: list[str]
    created_at: datetime


class Accepted(msgspec.Struct):
    detail: str
