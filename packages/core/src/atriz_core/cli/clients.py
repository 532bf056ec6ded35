"""`atriz clients add|list|show|rotate-secret|remove`, and the apps' clients for `atriz dev`."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

import asyncpg
import msgspec

from atriz_core.clients import repository, services
from atriz_core.clients.repository import ClientRecord
from atriz_core.clients.schemas import ClientCreate
from atriz_core.clock import SystemClock
from atriz_core.errors import DomainError
from atriz_core.kit.settings import development_client_secret
from atriz_core.settings import CoreSettings
from atriz_core.tokens.opaque import hash_token
from atriz_database import Environment, RefusedError
from atriz_database.pool import connect
from atriz_database.services import default_host, load_services
from atriz_database.settings import env_str

__all__ = ["ensure_dev_clients", "register_client_commands"]

CALLBACK_PATH = "/auth/callback"
"""Where every app receives its sign-in's code; the development clients are registered with it."""

T = TypeVar("T")


def _run(work: Callable[[asyncpg.Connection], Awaitable[T]]) -> T:
    async def main() -> T:
        connection = await connect(CoreSettings.from_env().database_url)
        try:
            return await work(connection)
        except DomainError as exc:
            raise RefusedError(exc.detail) from exc
        finally:
            await connection.close()

    return asyncio.run(main())


def _describe(client: ClientRecord) -> list[str]:
    kind = "public" if client.public else "confidential"
    party = "first-party, no consent screen" if client.first_party else "third-party, asks consent"
    return [
        f"{client.id}: {client.name} ({kind}, {party})",
        *(f"  redirect URI: {uri}" for uri in client.redirect_uris),
        *(f"  post-logout redirect URI: {uri}" for uri in client.post_logout_redirect_uris),
    ]


def _print_secret(secret: str | None) -> None:
    if secret is not None:
        print(f"client secret (shown once, core keeps only its hash): {secret}")


def add(args: argparse.Namespace) -> int:
    """Register a client."""
    fields = {
        "id": args.client_id,
        "name": args.name or args.client_id,
        "redirect_uris": args.redirect_uri,
        "post_logout_redirect_uris": args.post_logout_redirect_uri or [],
        "first_party": args.first_party,
        "public": args.public,
    }
    try:
        data = msgspec.convert(fields, ClientCreate)
    except msgspec.ValidationError as exc:
        raise RefusedError(str(exc)) from exc
    if args.secret_stdin and args.public:
        raise RefusedError("a public client has no secret: --secret-stdin is for confidential ones")
    chosen = sys.stdin.readline().strip() if args.secret_stdin else None
    client, secret = _run(lambda c: services.register_client(c, data, secret=chosen))
    print("\n".join(["registered " + _describe(client)[0], *_describe(client)[1:]]))
    if chosen is None:
        _print_secret(secret)
    return 0


def list_all(args: argparse.Namespace) -> int:
    """Every client."""
    clients = _run(services.list_clients)
    for client in clients:
        print(_describe(client)[0])
    if not clients:
        print("no clients registered")
    return 0


def show(args: argparse.Namespace) -> int:
    """One client."""
    client = _run(lambda c: services.existing_client(c, args.client_id))
    print("\n".join(_describe(client)))
    return 0


def rotate_secret(args: argparse.Namespace) -> int:
    """A new secret for a confidential client."""
    now = datetime.now(UTC)
    _, secret = _run(lambda c: services.rotate_client_secret(c, args.client_id, now))
    print(f"new secret for {args.client_id}; the old one no longer works")
    _print_secret(secret)
    return 0


def remove(args: argparse.Namespace) -> int:
    """Remove a client and end its sessions."""
    _run(lambda c: services.remove_client(c, args.client_id, SystemClock()))
    print(f"removed client {args.client_id}; its sessions have ended")
    return 0


async def _ensure_dev_clients(connection: asyncpg.Connection, host: str) -> list[str]:
    lines = []
    for spec in load_services().values():
        if spec.name == "core":
            continue
        # Where the kit says the app is reached (`<PREFIX>_PUBLIC_URL`, else its port here).
        public_url = env_str(f"{spec.port_env.removesuffix('_PORT')}_PUBLIC_URL")
        base = (public_url or f"http://{host}:{spec.port}").rstrip("/")
        client = await repository.get_client(connection, spec.name)
        if client is None:
            await repository.insert_client(
                connection,
                client_id=spec.name,
                name=spec.name,
                secret_hash=hash_token(development_client_secret(spec.name)),
                redirect_uris=[f"{base}{CALLBACK_PATH}"],
                post_logout_redirect_uris=[f"{base}/"],
                first_party=True,
            )
        else:
            await repository.add_redirect_uris(
                connection, spec.name, f"{base}{CALLBACK_PATH}", f"{base}/"
            )
        secret = development_client_secret(spec.name)
        lines.append(f"  {spec.name}: secret {secret}, callback {base}{CALLBACK_PATH}")
    return lines


def ensure_dev_clients() -> None:
    """`atriz dev`: every app served is a first-party confidential client, whose callback is
    `<public URL>/auth/callback` (`http://HOST:PORT` on the port it serves on, unless the app's
    `<PREFIX>_PUBLIC_URL` says otherwise), with the development secret."""
    settings = CoreSettings.from_env()
    if settings.environment is Environment.PRODUCTION:
        raise RefusedError("development clients are refused in production")
    host = default_host()
    host = "127.0.0.1" if host in ("0.0.0.0", "::") else host  # noqa: S104
    lines = _run(lambda c: _ensure_dev_clients(c, host))
    if lines:
        print("OpenID Connect clients (first-party, confidential):")
        print("\n".join(lines))


def register_client_commands(commands: Any) -> None:
    """Add `clients` to the `atriz` command."""
    clients = commands.add_parser(
        "clients", help="manage OpenID Connect clients (the apps that sign users in)"
    ).add_subparsers(dest="clients_command", required=True)
    added = clients.add_parser("add", help="register a client; prints its secret once")
    added.add_argument("client_id", help="e.g. website")
    added.add_argument("--name", help="shown on the consent screen (default: the id)")
    added.add_argument(
        "--redirect-uri", action="append", required=True, help="exact callback URI (repeatable)"
    )
    added.add_argument(
        "--post-logout-redirect-uri", action="append", help="where sign-out may return (repeatable)"
    )
    added.add_argument("--public", action="store_true", help="no secret: PKCE only")
    added.add_argument(
        "--first-party", action="store_true", help="one of Atriz's apps: no consent screen"
    )
    added.add_argument(
        "--secret-stdin",
        action="store_true",
        help="take the secret from standard input (one you generated, 43 characters or more)",
    )
    added.set_defaults(handler=add)
    clients.add_parser("list", help="every client").set_defaults(handler=list_all)
    for name, handler, text in (
        ("show", show, "one client"),
        ("rotate-secret", rotate_secret, "a new secret; prints it once"),
        ("remove", remove, "remove a client and end its sessions"),
    ):
        sub = clients.add_parser(name, help=text)
        sub.add_argument("client_id")
        sub.set_defaults(handler=handler)
