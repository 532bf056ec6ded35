"""`atriz users create-admin EMAIL`, `atriz users end-sessions`, `atriz keys rotate`, and the
development admin account."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import secrets
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec

from atriz_core.accounts.schemas import Email
from atriz_core.admin.services import ensure_administrator
from atriz_core.cli.clients import register_client_commands
from atriz_core.errors import DomainError
from atriz_core.passwords.hashing import PasswordHasher
from atriz_core.sessions.services import end_every_session
from atriz_core.settings import CoreSettings
from atriz_core.tokens.keys import (
    RsaSigningKey,
    SigningKey,
    previous_key_published_until,
    rotate_key,
)
from atriz_database import Environment, RefusedError
from atriz_database.pool import connect
from atriz_database.settings import env_str

__all__ = ["ensure_dev_admin", "print_seeded_logins", "register_commands"]

DEV_ADMIN_EMAIL = "admin@atriz.localhost"


async def _ensure_admin(
    settings: CoreSettings, *, email: str, password: str | None, name: str
) -> tuple[bool, bool]:
    connection = await connect(settings.database_url)
    try:
        return await ensure_administrator(
            connection,
            PasswordHasher.from_settings(settings),
            email=email,
            password=password,
            name=name,
        )
    finally:
        await connection.close()


def _read_password() -> str:
    if sys.stdin.isatty():
        first = getpass.getpass("Password: ")
        if getpass.getpass("Again: ") != first:
            raise RefusedError("the passwords differ")
        return first
    return sys.stdin.readline().rstrip("\n")


def _checked_email(email: str) -> str:
    """`email` if `/auth/login` would take it: an administrator who cannot sign in is none."""
    try:
        return msgspec.convert(email, Email)
    except msgspec.ValidationError:
        raise RefusedError(f"{email!r} is not an e-mail address") from None


def create_admin(args: argparse.Namespace) -> int:
    """Create an administrator, or give an existing user the admin role."""
    settings = CoreSettings.from_env()
    email = _checked_email(args.email)
    password = _read_password()
    try:
        created, granted = asyncio.run(
            _ensure_admin(settings, email=email, password=password, name=args.name)
        )
    except DomainError as exc:  # the password policy: one line, as every command fails
        raise RefusedError(exc.detail) from None
    if created:
        print(f"created administrator {email}")
    elif granted:
        print(f"{email} exists; granted it the admin role (password unchanged)")
    else:
        print(f"{email} is already an administrator (password unchanged)")
    return 0


async def _end_every_session(settings: CoreSettings) -> tuple[int, int]:
    connection = await connect(settings.database_url)
    try:
        return await end_every_session(connection, lambda: datetime.now(UTC))
    finally:
        await connection.close()


def end_sessions(args: argparse.Namespace) -> int:
    """End every user's every session; the apps refuse their access tokens within seconds."""
    users, sessions = asyncio.run(_end_every_session(CoreSettings.from_env()))
    print(f"ended {sessions} session(s) of {users} user(s); each must sign in again")
    return 0


def rotate(args: argparse.Namespace) -> int:
    """Add a new signing key (of access tokens, or with `--id-token` of ID tokens); the
    previous one stays published until its tokens have expired. Without `--id-token`, a first
    ID-token key is added too while there is none, so that one command bootstraps a
    deployment (unless `CORE_ID_TOKEN_KEY` holds it)."""
    settings = CoreSettings.from_env()
    now = datetime.now(UTC)
    delay = args.activate_in
    if delay < 0:
        raise RefusedError("--activate-in is a number of seconds from now, 0 or more")
    kind: type[SigningKey | RsaSigningKey] = RsaSigningKey if args.id_token else SigningKey
    folder = settings.id_token_key_folder if args.id_token else settings.signing_key_dir
    path = rotate_key(folder, now=now, kind=kind, activate_in=delay)
    if not args.id_token:
        id_token_keys = settings.id_token_key_folder
        if not settings.id_token_key_pem and not list(id_token_keys.glob("*.pem")):
            first = rotate_key(id_token_keys, now=now, kind=RsaSigningKey)
            print(f"first ID-token signing key {first}")
    active = now + timedelta(seconds=delay)
    until = previous_key_published_until(active, settings.access_token_seconds)
    # The window is counted from the key's time, not from the restart: a core that goes on
    # signing with the previous key after it closes hands out tokens the apps no longer accept.
    when = (
        "restart core now to sign with it"
        if not delay
        else f"restart every core process before {active:%Y-%m-%d %H:%M:%S} UTC: each publishes"
        " it as it starts and signs with it from then on"
    )
    print(
        f"new signing key {path}; {when}. The previous key is published until"
        f" {until:%Y-%m-%d %H:%M:%S} UTC; older key files are no longer loaded."
    )
    return 0


def ensure_dev_admin() -> None:
    """`atriz dev`: make sure a development administrator exists, and say how to sign in.

    The password is `ATRIZ_ADMIN_PASSWORD`, or generated and printed once, when it is created.
    """
    settings = CoreSettings.from_env()
    if settings.environment is Environment.PRODUCTION:
        raise RefusedError("a development administrator is refused in production")
    email = env_str("ATRIZ_ADMIN_EMAIL") or DEV_ADMIN_EMAIL
    password = env_str("ATRIZ_ADMIN_PASSWORD") or secrets.token_urlsafe(12)
    created, _ = asyncio.run(
        _ensure_admin(settings, email=email, password=password, name="Administrator")
    )
    if created:
        print(f"admin login: {email} / {password}")
        print("  (the password is shown once; set ATRIZ_ADMIN_PASSWORD to choose it)")
    else:
        # ATRIZ_ADMIN_PASSWORD only chooses the password of an administrator being created.
        print(
            f"admin login: {email} (its password was printed when it was created; forgotten,"
            " reset it with the mail link, or start over with `uv run db-reset all --yes`)"
        )


SEEDED_PASSWORD = "atriz-dev-password"  # noqa: S105 - documented in seeds/20_users.sql
_SEEDED_USERS = """
SELECT u.email, coalesce(string_agg(r.name, ', ' ORDER BY r.name), 'no role') AS roles
FROM users u
LEFT JOIN user_roles ur ON ur.user_id = u.id
LEFT JOIN roles r ON r.id = ur.role_id
WHERE u.id::text LIKE '5eed0000-%' AND u.deleted_at IS NULL
GROUP BY u.email
ORDER BY u.email
"""


async def _seeded_users(settings: CoreSettings) -> list[tuple[str, str]]:
    connection = await connect(settings.database_url)
    try:
        return [(row["email"], row["roles"]) for row in await connection.fetch(_SEEDED_USERS)]
    finally:
        await connection.close()


def print_seeded_logins() -> None:
    """`atriz dev`: the seeded users (core's `seeds/20_users.sql`), each with its roles."""
    settings = CoreSettings.from_env()
    seeded = asyncio.run(_seeded_users(settings))
    if seeded:
        print(f"seeded logins (password {SEEDED_PASSWORD}):")
    for email, roles in seeded:
        print(f"  {email}  ({roles})")


def register_commands(commands: Any) -> None:
    """Add `users`, `keys` and `clients` to the `atriz` command."""
    register_client_commands(commands)
    users = commands.add_parser("users", help="manage users").add_subparsers(
        dest="users_command", required=True
    )
    admin = users.add_parser(
        "create-admin", help="create an administrator (password asked, or read from stdin)"
    )
    admin.add_argument("email")
    admin.add_argument("--name", default="Administrator")
    admin.set_defaults(handler=create_admin)
    users.add_parser(
        "end-sessions",
        help="end every session of every user (after restoring an older atriz_shared)",
    ).set_defaults(handler=end_sessions)
    keys = commands.add_parser("keys", help="manage signing keys").add_subparsers(
        dest="keys_command", required=True
    )
    rotate_parser = keys.add_parser("rotate", help="add a new current signing key")
    rotate_parser.add_argument(
        "--activate-in",
        type=int,
        default=0,
        metavar="SECONDS",
        help="sign with the new key only this long from now: time enough to restart every core"
        " process, so that all publish it before any signs with it (several replicas)",
    )
    rotate_parser.add_argument(
        "--id-token",
        action="store_true",
        help="rotate the RSA key that signs ID tokens, not the Ed25519 key of access tokens",
    )
    rotate_parser.set_defaults(handler=rotate)
