"""Request and response bodies of the profile routes."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

import msgspec

from atriz_core.kit.text import END, NO_NUL, ONE_LINE

__all__ = ["MAX_PREFERENCES_BYTES", "Profile", "ProfileUpdate", "PublicProfile"]

MAX_PREFERENCES_BYTES = 4096
"""The largest `preferences` object, encoded as JSON."""

DisplayName = Annotated[str, msgspec.Meta(min_length=1, max_length=100, pattern=ONE_LINE)]
Bio = Annotated[str, msgspec.Meta(max_length=2000, pattern=NO_NUL)]
AvatarUrl = Annotated[
    str,
    msgspec.Meta(
        max_length=2048,
        # No quote, angle bracket, backslash or control character in the path: percent-encoded
        # in a URL anyway, and each is a way out of an HTML attribute the URL may be put in.
        pattern=r"^https://[A-Za-z0-9.-]+(:[0-9]{1,5})?(/[^\s\"'<>\\\x00-\x1f\x7f]*)?" + END,
        description="An https URL of an image.",
    ),
]
Locale = Annotated[
    str,
    msgspec.Meta(
        min_length=2,
        max_length=35,
        pattern=r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*" + END,
        description="A BCP 47 language tag: `en`, `es-MX`, `pt-BR`.",
    ),
]
TimeZone = Annotated[
    str,
    msgspec.Meta(
        min_length=1,
        max_length=64,
        pattern=NO_NUL,
        description="An IANA time zone: `Europe/Madrid`, `UTC`.",
    ),
]


class ProfileUpdate(msgspec.Struct, forbid_unknown_fields=True):
    """The whole editable profile (PUT replaces it: a field left out gets its default)."""

    display_name: DisplayName
    bio: Bio = ""
    avatar_url: AvatarUrl | None = None
    locale: Locale = "en"
    time_zone: TimeZone = "UTC"
    preferences: dict[str, Any] = msgspec.field(default_factory=dict)
    """Any JSON object the website's pages keep for the user, at most 4 KiB encoded."""


class Profile(msgspec.Struct):
    """The signed-in user's own profile, every field."""

    user_id: uuid.UUID
    display_name: str
    bio: str
    avatar_url: str | None
    locale: str
    time_zone: str
    preferences: dict[str, Any]
    created_at: datetime
    updated_at: datetime


class PublicProfile(msgspec.Struct):
    """What anyone may see of a user."""

    user_id: uuid.UUID
    display_name: str
    bio: str
    avatar_url: str | None
    created_at: datetime
