"""Rules of the registered clients: exact redirect URIs, secrets made by core and kept as hashes.

A client's secret is 256 bits from `secrets`, shown once and stored as SHA-256 (as refresh
tokens are): no dictionary can guess it, so a slow hash would buy nothing, and checking it costs
the token endpoint nothing. Removing a client ends its sessions first, and tells the apps, so
that the access tokens it holds are refused within seconds.
"""

from __future__ import annotations

import hmac
import uuid
from datetime import datetime
from ipaddress import ip_address
from urllib.parse import urlsplit

import asyncpg
import msgspec

from atriz_core.audit import record_event
from atriz_core.client.user_events import SESSIONS_REVOKED
from atriz_core.clients import repository
from atriz_core.clients.repository import ClientRecord
from atriz_core.clients.schemas import Client, ClientCreate, RegisteredClient
from atriz_core.clock import Clock
from atriz_core.context import RequestContext
from atriz_core.errors import ConflictError, InvalidInputError, NotFoundError
from atriz_core.tokens.opaque import hash_token, new_token
from atriz_core.user_events import record_user_event

__all__ = [
    "check_redirect_uri",
    "client_view",
    "existing_client",
    "list_clients",
    "register_client",
    "registered_view",
    "remove_client",
    "rotate_client_secret",
    "secret_matches",
]

_LOOPBACK_NAMES = ("localhost",)
MIN_SECRET_LENGTH = 43
"""What `secrets.token_urlsafe(32)` makes (256 bits): core keeps a secret as its SHA-256 alone,
which only a secret no dictionary holds makes safe."""


def _is_loopback(host: str) -> bool:
    if host in _LOOPBACK_NAMES or host.endswith(".localhost"):
        return True
    try:
        return ip_address(host).is_loopback
    except ValueError:
        return False


def check_redirect_uri(uri: str, field: str) -> str:
    """`uri` if a client may register it, else `InvalidInputError` naming `field`: absolute,
    `https` (or `http` on a loopback address, RFC 8252), no fragment, no user name, no
    wildcard. It is compared with the requested URI exactly, character for character."""
    try:
        parts = urlsplit(uri)
        host = parts.hostname
    except ValueError:
        host = None
        parts = None
    if parts is None or not host or parts.scheme not in ("https", "http"):
        raise InvalidInputError.for_field(field, f"{uri!r} is not an absolute http(s) URI")
    if parts.scheme == "http" and not _is_loopback(host):
        raise InvalidInputError.for_field(field, f"{uri!r}: plain http only on a loopback address")
    if parts.fragment or "#" in uri:
        raise InvalidInputError.for_field(field, f"{uri!r} must not have a fragment")
    if parts.username is not None or "*" in uri:
        raise InvalidInputError.for_field(field, f"{uri!r} must hold no user name or wildcard")
    if any(c.isspace() or ord(c) < 32 or c == "\x7f" for c in uri):
        raise InvalidInputError.for_field(field, f"{uri!r} must hold no space or control character")
    return uri


def secret_matches(client: ClientRecord, secret: str) -> bool:
    """Whether `secret` is a confidential client's secret, compared in constant time."""
    if client.secret_hash is None:
        return False
    return hmac.compare_digest(hash_token(secret), client.secret_hash)


def client_view(client: ClientRecord) -> Client:
    return Client(
        id=client.id,
        name=client.name,
        public=client.public,
        first_party=client.first_party,
        redirect_uris=list(client.redirect_uris),
        post_logout_redirect_uris=list(client.post_logout_redirect_uris),
        created_at=client.created_at,
        updated_at=client.updated_at,
    )


def registered_view(client: ClientRecord, secret: str | None) -> RegisteredClient:
    """A client as registration or a secret's rotation answers: with its secret, this once."""
    return RegisteredClient(**msgspec.structs.asdict(client_view(client)), client_secret=secret)


async def existing_client(
    connection: asyncpg.Connection | asyncpg.Pool, client_id: str, *, for_update: bool = False
) -> ClientRecord:
    client = await repository.get_client(connection, client_id, for_update=for_update)
    if client is None:
        raise NotFoundError(f"no client {client_id}")
    return client


async def list_clients(connection: asyncpg.Connection | asyncpg.Pool) -> list[ClientRecord]:
    return await repository.list_clients(connection)


async def register_client(
    connection: asyncpg.Connection,
    data: ClientCreate,
    *,
    actor: uuid.UUID | None = None,
    context: RequestContext | None = None,
    secret: str | None = None,
) -> tuple[ClientRecord, str | None]:
    """Register a client; return it and its secret (None for a public client), which is not
    kept and cannot be shown again. `secret`: one the operator generated (a deployment that
    keeps its secrets in its own store, set before anything runs), instead of a new one."""
    redirect_uris = [
        check_redirect_uri(uri, f"redirect_uris[{i}]") for i, uri in enumerate(data.redirect_uris)
    ]
    logout_uris = [
        check_redirect_uri(uri, f"post_logout_redirect_uris[{i}]")
        for i, uri in enumerate(data.post_logout_redirect_uris)
    ]
    if secret is not None and (data.public or len(secret) < MIN_SECRET_LENGTH):
        raise InvalidInputError.for_field(
            "secret", f"is for a confidential client, {MIN_SECRET_LENGTH} characters or more"
        )
    if data.public:
        secret_hash = None
    elif secret is not None:
        secret_hash = hash_token(secret)
    else:
        secret, secret_hash = new_token()
    try:
        async with connection.transaction():
            client = await repository.insert_client(
                connection,
                client_id=data.id,
                name=data.name.strip() or data.id,
                secret_hash=secret_hash,
                redirect_uris=redirect_uris,
                post_logout_redirect_uris=logout_uris,
                first_party=data.first_party,
            )
            await record_event(
                connection,
                "client_registered",
                actor_id=actor,
                context=context,
                details={"client": data.id},
            )
    except asyncpg.UniqueViolationError as exc:
        raise ConflictError(f"client {data.id} already exists") from exc
    return client, secret


async def rotate_client_secret(
    connection: asyncpg.Connection,
    client_id: str,
    now: datetime,
    *,
    actor: uuid.UUID | None = None,
    context: RequestContext | None = None,
) -> tuple[ClientRecord, str]:
    """Give a confidential client a new secret; the old one stops working at once."""
    async with connection.transaction():
        client = await existing_client(connection, client_id)
        if client.public:
            raise ConflictError(f"client {client_id} is public: it has no secret")
        secret, secret_hash = new_token()
        await repository.update_client_secret(connection, client_id, secret_hash, now)
        await record_event(
            connection,
            "client_secret_rotated",
            actor_id=actor,
            context=context,
            details={"client": client_id},
        )
    return client, secret


async def remove_client(
    connection: asyncpg.Connection,
    client_id: str,
    clock: Clock,
    *,
    actor: uuid.UUID | None = None,
    context: RequestContext | None = None,
) -> None:
    """Remove a client, ending its sessions: the apps refuse their users' access tokens
    issued before, within seconds (`sessions_revoked`)."""
    async with connection.transaction():
        # Locked first: a code exchange opening a session of it commits before (and the next
        # statement sees its session) or finds the client gone.
        await existing_client(connection, client_id, for_update=True)
        ended = await repository.revoke_client_sessions(connection, client_id, clock.now())
        # Stamped once the sessions are ours: the revocation may have waited for a refresh
        # holding one, whose access token is issued after the time read before the wait.
        revoked_at = clock.now()
        for user_id in ended:
            await record_user_event(connection, user_id, SESSIONS_REVOKED, at=revoked_at)
        await repository.delete_client(connection, client_id)
        await record_event(
            connection,
            "client_removed",
            actor_id=actor,
            context=context,
            details={"client": client_id},
        )
