"""E-mail verification and password reset: flows driven by single-use links sent by mail.

Each link carries a 256-bit token stored only as a hash; it expires, is spent on first use, and a
new link revokes the previous one of its kind.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

import asyncpg

from atriz_core.accounts import repository
from atriz_core.accounts.repository import EMAIL_VERIFICATION, PASSWORD_RESET
from atriz_core.audit import record_event
from atriz_core.client.user_events import SESSIONS_REVOKED
from atriz_core.context import Core, RequestContext
from atriz_core.errors import InvalidInputError
from atriz_core.limits import enforce_mail_limits
from atriz_core.mail import MailMessage
from atriz_core.passwords.policy import acceptable_password
from atriz_core.sessions import repository as sessions
from atriz_core.tokens.opaque import hash_token, new_token
from atriz_core.user_events import record_user_event
from atriz_core.users import repository as users
from atriz_core.users.repository import UserRecord

__all__ = [
    "confirm_email_verification",
    "confirm_password_reset",
    "email_verification_mail",
    "request_password_reset",
    "revoke_links",
    "send_password_reset",
]


async def _one_time_token(
    connection: asyncpg.Connection, core: Core, user: UserRecord, token_type: str, seconds: int
) -> str:
    now = core.clock.now()
    await repository.revoke_user_tokens(connection, user.id, token_type, now)
    token, token_hash = new_token()
    await repository.insert_token(
        connection,
        user_id=user.id,
        token_type=token_type,
        token_hash=token_hash,
        expires_at=now + timedelta(seconds=seconds),
    )
    return token


async def email_verification_mail(
    connection: asyncpg.Connection, core: Core, user: UserRecord
) -> MailMessage:
    token = await _one_time_token(
        connection, core, user, EMAIL_VERIFICATION, core.settings.email_verification_seconds
    )
    # Built from the configured public URL, never from the request's Host header.
    link = f"{core.settings.public_url}/auth/verify-email?token={token}"
    return MailMessage(
        to=user.email,
        subject="Confirm your e-mail address",
        body=f"Hello {user.name},\n\nConfirm your address for Atriz:\n{link}\n",
    )


async def _spend_token(
    connection: asyncpg.Connection, core: Core, token: str, token_type: str, *, spend: bool = True
) -> UserRecord:
    """The user of a live single-use token, which is marked used unless `spend` is false (a
    look before the real spend, under the row lock)."""
    now = core.clock.now()
    stored = await repository.get_token_for_update(connection, hash_token(token), token_type)
    user = await users.get_user(connection, stored.user_id) if stored else None
    if (
        stored is None
        or user is None
        or not user.can_sign_in
        or stored.used_at is not None
        or stored.revoked_at is not None
        or stored.expires_at <= now
    ):
        raise InvalidInputError.for_field("token", "is invalid, expired or already used")
    if spend:
        await repository.mark_token_used(connection, stored.id, now)
    return user


async def confirm_email_verification(
    connection: asyncpg.Connection, core: Core, *, token: str, context: RequestContext
) -> None:
    async with connection.transaction():
        user = await _spend_token(connection, core, token, EMAIL_VERIFICATION)
        await repository.mark_email_verified(connection, user.id, core.clock.now())
        await record_event(connection, "email_verified", user_id=user.id, context=context)


async def request_password_reset(
    pool: asyncpg.Pool, core: Core, *, email: str, context: RequestContext
) -> None:
    """Count a reset request against its limits (429 beyond them).

    The limits per address and per e-mail are counted whether or not the address has an
    account, so a 429 tells nothing; the caller then answers 202 at once and runs
    `send_password_reset` after responding, so that the answer's timing tells nothing either.
    """
    await enforce_mail_limits(pool, core, email=email, context=context, bucket="reset")


async def send_password_reset(
    pool: asyncpg.Pool, core: Core, *, email: str, context: RequestContext
) -> None:
    """Mail a reset link if an active account has that address; otherwise do nothing."""
    user = await users.get_user_by_email(pool, email.strip())
    if user is None or not user.can_sign_in:
        return
    async with pool.acquire() as connection, connection.transaction():
        token = await _one_time_token(
            connection, core, user, PASSWORD_RESET, core.settings.password_reset_seconds
        )
        await record_event(connection, "password_reset_requested", user_id=user.id, context=context)
    minutes = core.settings.password_reset_seconds // 60
    link = f"{core.settings.public_url}/auth/password-reset?token={token}"
    await core.mailer.send(
        MailMessage(
            to=user.email,
            subject="Reset your Atriz password",
            body=(
                f"Hello {user.name},\n\nChoose a new password within {minutes} minutes:\n"
                f"{link}\n\n"
                "If you did not ask for this, ignore this mail; your password stays as it is.\n"
            ),
        )
    )


async def confirm_password_reset(
    pool: asyncpg.Pool,
    core: Core,
    *,
    token: str,
    new_password: str,
    context: RequestContext,
) -> None:
    """Set a new password with a reset token (single use) and end every session.

    The token is checked, the password hashed with no connection held, then the token spent
    under its row lock (checked again: a concurrent use of it wins only once).
    """
    async with pool.acquire() as connection:
        user = await _spend_token(connection, core, token, PASSWORD_RESET, spend=False)
    acceptable = acceptable_password(
        new_password, email=user.email, name=user.name, field="new_password"
    )
    password_hash = await core.hasher.hash(acceptable)
    async with pool.acquire() as connection, connection.transaction():
        user = await _spend_token(connection, core, token, PASSWORD_RESET)
        now = core.clock.now()
        await repository.update_password(connection, user.id, password_hash, now)
        # The mailbox's owner has proven themselves: lift any lockout.
        await users.clear_login_failures(connection, user.id)
        await sessions.revoke_user_sessions(connection, user.id, now)
        # The apps refuse the user's access tokens issued before, within seconds.
        await record_user_event(connection, user.id, SESSIONS_REVOKED, at=core.clock.now())
        await record_event(connection, "password_reset", user_id=user.id, context=context)


async def revoke_links(connection: asyncpg.Connection, user_id: uuid.UUID, now: datetime) -> None:
    """Revoke the user's unspent e-mail verification and password reset links (their account
    is being deactivated or deleted)."""
    for token_type in (EMAIL_VERIFICATION, PASSWORD_RESET):
        await repository.revoke_user_tokens(connection, user_id, token_type, now)
