"""Request and response bodies of the `/admin/clients` routes."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import msgspec

from atriz_core.kit.text import END, ONE_LINE

__all__ = ["CLIENT_ID_PATTERN", "Client", "ClientCreate", "ClientId", "RegisteredClient"]

# The format the `oauth_clients_id_format` check enforces; `(?!\n)` as in the role names.
CLIENT_ID_PATTERN = r"^[a-z][a-z0-9_.-]{0,62}" + END
ClientId = Annotated[
    str,
    msgspec.Meta(
        min_length=1,
        max_length=63,
        pattern=CLIENT_ID_PATTERN,
        description="lower-case letters, digits, `.`, `_` and `-`, starting with a letter",
    ),
]
Uri = Annotated[str, msgspec.Meta(min_length=1, max_length=2000)]


class ClientCreate(msgspec.Struct, forbid_unknown_fields=True):
    id: ClientId
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=200, pattern=ONE_LINE)]
    redirect_uris: Annotated[list[Uri], msgspec.Meta(min_length=1, max_length=20)]
    """Compared exactly: `https://`, or `http://` on a loopback address; no fragment."""
    post_logout_redirect_uris: Annotated[list[Uri], msgspec.Meta(max_length=20)] = []
    first_party: bool = False
    """Atriz's own apps: their users are not asked to consent."""
    public: bool = False
    """No secret (a native or single-page app): PKCE is its only proof."""


class Client(msgspec.Struct):
    id: str
    name: str
    public: bool
    first_party: bool
    redirect_uris: list[str]
    post_logout_redirect_uris: list[str]
    created_at: datetime
    updated_at: datetime


class RegisteredClient(Client):
    client_secret: str | None
    """The secret, shown this once (core keeps only its hash); None for a public client."""
