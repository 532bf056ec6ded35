"""Business rules of registration, login and password changes.

No database connection is held while a password is hashed: a hash takes tens of milliseconds,
and a login burst holding connections would starve every other route of the pool. These
services take the pool and acquire a connection for each step around the hashing.

Failures are recorded before they are raised: a failed login or password check leaves its
count and its audit event even though the request fails.
"""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

import asyncpg

from atriz_core.accounts import links, repository
from atriz_core.accounts.repository import PASSWORD_RESET, REFRESH, Lockout, LoginAttempt
from atriz_core.accounts.schemas import Me, TokenPair, User
from atriz_core.audit import record_event
from atriz_core.client.user_events import SESSIONS_REVOKED
from atriz_core.client.verifier import Principal
from atriz_core.context import Core, RequestContext
from atriz_core.errors import (
    AuthenticationError,
    ConflictError,
    InvalidInputError,
    TooManyRequestsError,
)
from atriz_core.limits import address_bucket, email_bucket, enforce_limit, enforce_mail_limits
from atriz_core.mail import MailMessage
from atriz_core.metrics import CORE_METRICS
from atriz_core.passwords.policy import acceptable_password, normalise
from atriz_core.sessions import repository as sessions
from atriz_core.sessions.services import token_pair
from atriz_core.tokens.opaque import new_token
from atriz_core.user_events import record_user_event
from atriz_core.users import repository as users
from atriz_core.users.repository import UserRecord

__all__ = [
    "change_password",
    "describe_me",
    "log_in",
    "register",
    "request_email_verification",
    "sign_in",
]

DEFAULT_ROLE = "user"
# One answer for an unknown e-mail, a wrong password, a locked or a deactivated account.
LOGIN_FAILED = "invalid e-mail or password"


def user_view(user: UserRecord) -> User:
    return User(
        id=user.id,
        email=user.email,
        name=user.name,
        email_verified=user.email_verified_at is not None,
        created_at=user.created_at,
    )


async def register(
    pool: asyncpg.Pool,
    core: Core,
    *,
    email: str,
    password: str,
    name: str,
    context: RequestContext,
) -> tuple[User, MailMessage]:
    """Create a user with the `user` role; return it and the verification mail to send."""
    name = name.strip()
    if not name:
        raise InvalidInputError.for_field("name", "must not be blank")
    email = email.strip()
    acceptable = acceptable_password(password, email=email, name=name, field="password")
    with core.hasher.admission():
        # A registration costs an argon2 hash and a mail: limited per address and per e-mail.
        await enforce_limit(
            pool,
            "register:address",
            address_bucket(context.client_address),
            now=core.clock.now(),
            limit=core.settings.register_per_address,
            window_seconds=core.settings.request_limit_window_seconds,
            detail="too many registrations from this address; try again later",
        )
        await enforce_limit(
            pool,
            "mail:email",
            await email_bucket(pool, email),
            now=core.clock.now(),
            limit=core.settings.mail_per_email,
            window_seconds=core.settings.request_limit_window_seconds,
            detail="too many mails to this address; try again later",
        )
        password_hash = await core.hasher.hash(acceptable)
    try:
        async with pool.acquire() as connection, connection.transaction():
            user = await users.insert_user(connection, email, password_hash, name)
            default_role = await users.get_role_id(connection, DEFAULT_ROLE)
            if default_role is not None:
                await users.insert_role_grant(connection, user.id, default_role, None)
            await record_event(connection, "register", user_id=user.id, context=context)
            mail = await links.email_verification_mail(connection, core, user)
    except asyncpg.UniqueViolationError as exc:
        raise ConflictError("an account with this e-mail address already exists") from exc
    return user_view(user), mail


def _lockout(core: Core) -> Lockout:
    settings = core.settings
    return Lockout(
        max_failures=settings.login_max_failures,
        base_seconds=settings.lockout_base_seconds,
        max_seconds=settings.lockout_max_seconds,
    )


def _seconds_until(moment: datetime, now: datetime) -> int:
    return math.ceil((moment - now).total_seconds())


def _failure_reason(attempt: LoginAttempt) -> str:
    user = attempt.user
    if user is None:
        return "unknown_email"
    if not user.can_sign_in:
        return "inactive"
    return "locked" if attempt.booking is None else "wrong_password"


@dataclass(frozen=True)
class SignedIn:
    """A successful sign-in: the session it opened and that session's first token."""

    user: UserRecord
    roles: list[str]
    session_id: uuid.UUID
    token: str
    """A refresh token, or a browser session's cookie (`sign_in`'s `token_type`)."""
    expires_at: datetime
    """When the session ends however it is used (`CORE_SESSION_MAX_SECONDS`)."""
    started_at: datetime
    """Core's clock before the statement that started it: its first access token's `iat`."""


async def log_in(
    pool: asyncpg.Pool,
    core: Core,
    *,
    email: str,
    password: str,
    context: RequestContext,
) -> TokenPair:
    """Check the credentials; start a session and return its tokens (see `sign_in`)."""
    signed_in = await sign_in(pool, core, email=email, password=password, context=context)
    return token_pair(
        core,
        user_id=signed_in.user.id,
        email=signed_in.user.email,
        roles=signed_in.roles,
        session_id=signed_in.session_id,
        refresh_token=signed_in.token,
        issued_at=signed_in.started_at,
    )


async def sign_in(
    pool: asyncpg.Pool,
    core: Core,
    *,
    email: str,
    password: str,
    context: RequestContext,
    token_type: str = REFRESH,
) -> SignedIn:
    """Check the credentials; start a session with its first token of `token_type` (a
    refresh token for `/auth/login`, a cookie for core's sign-in page). Both ways of signing in
    go through here, so they share every limit and every answer.

    Before hashing, the attempt is booked as a failure of its address and its account (see
    `repository.reserve_login_attempt`), so concurrent guesses cannot outrun the limits. An
    unknown e-mail, an inactive or a locked account cost the same argon2 work as a wrong
    password (against a decoy hash) and get the same answer, even with the right password.
    """
    settings = core.settings
    address = address_bucket(context.client_address)
    with core.hasher.admission():  # refused before anything is booked
        attempt = await repository.reserve_login_attempt(
            pool,
            email.strip(),
            address,
            core.clock.now(),
            lockout=_lockout(core),
            address_max_failures=settings.address_max_failures,
            address_window_seconds=settings.address_window_seconds,
        )
        if not attempt.address_admitted:
            CORE_METRICS.login_failed("address_limit")
            started = attempt.address_window_started_at or core.clock.now()
            raise TooManyRequestsError(
                "too many failed sign-ins from this address; try again later",
                _seconds_until(
                    started + timedelta(seconds=settings.address_window_seconds),
                    core.clock.now(),
                ),
            )
        user, booking = attempt.user, attempt.booking
        checked_hash = user.password_hash if user is not None and booking is not None else None
        verification = await core.hasher.verify(checked_hash, normalise(password))
        if user is None or booking is None or checked_hash is None or not verification.matches:
            await record_event(
                pool,
                "login_failed",
                user_id=user.id if user else None,
                context=context,
                details={"reason": _failure_reason(attempt)},
            )
            # A wrong password whose booked failure reached the threshold is the one that
            # locked.
            locked = (attempt.failures or 0) >= settings.login_max_failures
            CORE_METRICS.login_failed(_failure_reason(attempt), locked_account=locked)
            raise AuthenticationError(LOGIN_FAILED)
        needs_rehash = verification.needs_rehash
        new_hash = await core.hasher.hash(normalise(password)) if needs_rehash else None

    now = core.clock.now()
    session_id = uuid.uuid4()
    token, token_hash = new_token()
    session_expires_at = now + timedelta(seconds=settings.session_max_seconds)
    granted = await repository.start_session(
        pool,
        user_id=user.id,
        booking=booking,
        verified_hash=checked_hash,
        now=now,
        new_hash=new_hash,
        address=address,
        session_id=session_id,
        session_expires_at=session_expires_at,
        token_hash=token_hash,
        token_expires_at=min(
            now + timedelta(seconds=settings.refresh_token_seconds), session_expires_at
        ),
        user_agent=context.user_agent,
        client_address=context.client_address,
        rehashed=new_hash is not None,
        token_type=token_type,
    )
    if granted is None:  # deactivated, deleted or re-passworded during the check
        CORE_METRICS.login_failed("inactive")
        raise AuthenticationError(LOGIN_FAILED)
    CORE_METRICS.login_succeeded()
    return SignedIn(user, granted, session_id, token, session_expires_at, now)


async def _active_user(
    connection: asyncpg.Connection | asyncpg.Pool, user_id: uuid.UUID
) -> UserRecord:
    user = await users.get_user(connection, user_id)
    if user is None or not user.can_sign_in:
        raise AuthenticationError("this account is no longer active")
    return user


async def describe_me(connection: asyncpg.Connection, principal: Principal) -> Me:
    user = await _active_user(connection, principal.id)
    roles = await users.role_names(connection, user.id)
    return Me(
        id=user.id,
        email=user.email,
        name=user.name,
        email_verified=user.email_verified_at is not None,
        roles=roles,
        created_at=user.created_at,
    )


async def change_password(
    pool: asyncpg.Pool,
    core: Core,
    principal: Principal,
    *,
    current_password: str,
    new_password: str,
    context: RequestContext,
) -> None:
    """Change the password and end every other session of the user.

    A wrong current password counts toward the account's lockout like a failed login, so an
    access token cannot be used to guess the password without limit.

    The apps hear of it (`sessions_revoked`) and refuse every access token of the user issued
    before, the caller's own included: the caller's session stays, and its next refresh gives
    it a token they accept. Simpler and safer than telling the apps which session to spare.
    """
    user = await _active_user(pool, principal.id)
    acceptable = acceptable_password(
        new_password, email=user.email, name=user.name, field="new_password"
    )
    with core.hasher.admission():
        now = core.clock.now()
        booking = await repository.reserve_password_check(pool, user.id, now, _lockout(core))
        if booking is None:
            locked = await _active_user(pool, principal.id)
            raise TooManyRequestsError(
                "too many wrong passwords; try again later",
                _seconds_until(locked.locked_until or now, now),
            )
        verification = await core.hasher.verify(user.password_hash, normalise(current_password))
        if not verification.matches:
            await record_event(pool, "password_change_failed", user_id=user.id, context=context)
            raise InvalidInputError.for_field("current_password", "is not correct")
        password_hash = await core.hasher.hash(acceptable)
    now = core.clock.now()
    async with pool.acquire() as connection, connection.transaction():
        await repository.settle_password_check(connection, user.id, booking)
        if not await repository.update_password(
            connection, user.id, password_hash, now, replacing=user.password_hash
        ):
            raise ConflictError("the password was changed meanwhile; sign in again")
        await sessions.revoke_user_sessions(connection, user.id, now, keep=principal.session_id)
        await repository.revoke_user_tokens(connection, user.id, PASSWORD_RESET, now)
        await record_user_event(connection, user.id, SESSIONS_REVOKED, at=core.clock.now())
        await record_event(connection, "password_changed", user_id=user.id, context=context)


async def request_email_verification(
    pool: asyncpg.Pool, core: Core, principal: Principal, context: RequestContext
) -> MailMessage | None:
    """A new verification mail for the signed-in user, or None if the address is verified."""
    user = await _active_user(pool, principal.id)
    if user.email_verified_at is not None:
        return None
    await enforce_mail_limits(pool, core, email=user.email, context=context, bucket="verify-email")
    async with pool.acquire() as connection, connection.transaction():
        return await links.email_verification_mail(connection, core, user)
