"""Business rules of registration, login, sessions and password changes.

These services own their transactions: a failed login or a reused refresh token must leave a
record (failure counts, a revoked session, an audit event) even though the request fails, so the
failure is raised only after that record has been committed.
"""

from __future__ import annotations

import math
import uuid
from datetime import timedelta

import asyncpg

from atriz_core.accounts import links, repository
from atriz_core.accounts.repository import PASSWORD_RESET, REFRESH, UserRecord
from atriz_core.accounts.schemas import Me, TokenPair, User
from atriz_core.admin import repository as roles
from atriz_core.audit import record_event
from atriz_core.client.verifier import Principal
from atriz_core.context import Core, RequestContext
from atriz_core.errors import (
    AuthenticationError,
    ConflictError,
    InvalidInputError,
    TooManyRequestsError,
)
from atriz_core.mail import MailMessage
from atriz_core.passwords.policy import acceptable_password, normalise
from atriz_core.tokens.access import issue_access_token
from atriz_core.tokens.opaque import hash_token, new_token

__all__ = [
    "change_password",
    "describe_me",
    "log_in",
    "log_out",
    "log_out_everywhere",
    "refresh_session",
    "register",
    "request_email_verification",
]

DEFAULT_ROLE = "user"
# One answer for an unknown e-mail, a wrong password, a locked or a deactivated account.
LOGIN_FAILED = "invalid e-mail or password"
SESSION_ENDED = "the refresh token is not valid; sign in again"


def user_view(user: UserRecord) -> User:
    return User(
        id=user.id,
        email=user.email,
        name=user.name,
        email_verified=user.email_verified_at is not None,
        created_at=user.created_at,
    )


async def register(
    connection: asyncpg.Connection,
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
    password_hash = await core.hasher.hash(
        acceptable_password(password, email=email, name=name, field="password")
    )
    try:
        async with connection.transaction():
            user = await repository.insert_user(connection, email, password_hash, name)
            default_role = await roles.get_role_id(connection, DEFAULT_ROLE)
            if default_role is not None:
                await roles.insert_role_grant(connection, user.id, default_role, None)
            await record_event(connection, "register", user_id=user.id, context=context)
            mail = await links.email_verification_mail(connection, core, user)
    except asyncpg.UniqueViolationError as exc:
        raise ConflictError("an account with this e-mail address already exists") from exc
    return user_view(user), mail


def _check_address_limit(core: Core, candidate: repository.LoginCandidate) -> None:
    """429 once an address has failed too often within the window, before any hashing."""
    settings, started = core.settings, candidate.address_window_started_at
    if candidate.address_failures >= settings.address_max_failures and started is not None:
        retry_after = (
            started + timedelta(seconds=settings.address_window_seconds) - core.clock.now()
        )
        raise TooManyRequestsError(
            "too many failed sign-ins from this address; try again later",
            math.ceil(retry_after.total_seconds()),
        )


async def log_in(
    connection: asyncpg.Connection,
    core: Core,
    *,
    email: str,
    password: str,
    context: RequestContext,
) -> TokenPair:
    """Check the credentials; start a session and return its tokens.

    An unknown e-mail costs the same argon2 work as a wrong password, and a locked account
    answers exactly like a wrong password, even to the right one.
    """
    candidate = await repository.login_candidate(
        connection,
        email.strip(),
        context.client_address,
        core.clock.now(),
        core.settings.address_window_seconds,
    )
    _check_address_limit(core, candidate)
    user = candidate.user
    verification = await core.hasher.verify(
        user.password_hash if user else None, normalise(password)
    )
    now = core.clock.now()
    locked = bool(user and user.locked_until and user.locked_until > now)
    if user is None or not verification.matches or locked or not user.can_sign_in:
        reason = (
            "unknown_email"
            if user is None
            else "locked"
            if locked
            else "inactive"
            if not user.can_sign_in
            else "wrong_password"
        )
        async with connection.transaction():
            if user is not None and not locked and user.can_sign_in:
                await repository.record_login_failure(
                    connection,
                    user.id,
                    now,
                    max_failures=core.settings.login_max_failures,
                    base_seconds=core.settings.lockout_base_seconds,
                    max_seconds=core.settings.lockout_max_seconds,
                )
            if context.client_address is not None:
                await repository.record_address_failure(
                    connection, context.client_address, now, core.settings.address_window_seconds
                )
            await record_event(
                connection,
                "login_failed",
                user_id=user.id if user else None,
                context=context,
                details={"reason": reason},
            )
        raise AuthenticationError(LOGIN_FAILED)

    new_hash = await core.hasher.hash(normalise(password)) if verification.needs_rehash else None
    family_id = uuid.uuid4()
    refresh_token, token_hash = new_token()
    roles = await repository.start_session(
        connection,
        user_id=user.id,
        now=now,
        new_hash=new_hash,
        token_hash=token_hash,
        family_id=family_id,
        expires_at=now + timedelta(seconds=core.settings.refresh_token_seconds),
        user_agent=context.user_agent,
        client_address=context.client_address,
        rehashed=new_hash is not None,
    )
    return _token_pair(core, user, roles, family_id, refresh_token)


async def _issue_refresh_token(
    connection: asyncpg.Connection,
    core: Core,
    user_id: uuid.UUID,
    family_id: uuid.UUID,
    context: RequestContext,
) -> str:
    token, token_hash = new_token()
    await repository.insert_token(
        connection,
        user_id=user_id,
        token_type=REFRESH,
        token_hash=token_hash,
        family_id=family_id,
        expires_at=core.clock.now() + timedelta(seconds=core.settings.refresh_token_seconds),
        user_agent=context.user_agent,
        client_address=context.client_address,
    )
    return token


def _token_pair(
    core: Core, user: UserRecord, roles: list[str], family_id: uuid.UUID, refresh_token: str
) -> TokenPair:
    settings = core.settings
    access_token = issue_access_token(
        core.keyring,
        issuer=settings.issuer,
        audiences=settings.audiences,
        user_id=user.id,
        email=user.email,
        roles=roles,
        session_id=family_id,
        now=core.clock.now(),
        lifetime_seconds=settings.access_token_seconds,
    )
    return TokenPair(
        access_token=access_token,
        refresh_token=refresh_token,
        expires_in=settings.access_token_seconds,
    )


async def refresh_session(
    connection: asyncpg.Connection, core: Core, *, refresh_token: str, context: RequestContext
) -> TokenPair:
    """Rotate a refresh token: the old one is spent, a new one of the same session returned.

    A spent token presented again within the grace window (two tabs, a retried request) gets a
    new token of the same session. Later, it is taken as stolen: the whole session is revoked.
    """
    now = core.clock.now()
    grace = timedelta(seconds=core.settings.refresh_reuse_grace_seconds)
    reused = False
    async with connection.transaction():
        stored = await repository.get_token_for_update(
            connection, hash_token(refresh_token), REFRESH
        )
        user = await repository.get_user(connection, stored.user_id) if stored else None
        if (
            stored is None
            or user is None
            or stored.family_id is None
            or stored.revoked_at is not None
            or stored.expires_at <= now
            or not user.can_sign_in
        ):
            pair = None
        elif stored.used_at is not None and now - stored.used_at > grace:
            reused = True
            await repository.revoke_family(connection, stored.family_id, now)
            await record_event(
                connection,
                "refresh_reuse",
                user_id=stored.user_id,
                context=context,
                details={"session": str(stored.family_id)},
            )
            pair = None
        else:
            if stored.used_at is None:
                await repository.mark_token_used(connection, stored.id, now)
            token = await _issue_refresh_token(connection, core, user.id, stored.family_id, context)
            roles = await repository.role_names(connection, user.id)
            pair = _token_pair(core, user, roles, stored.family_id, token)
    if pair is None:
        detail = "refresh token reused; the session has been ended" if reused else SESSION_ENDED
        raise AuthenticationError(detail)
    return pair


async def log_out(
    connection: asyncpg.Connection, core: Core, *, refresh_token: str, context: RequestContext
) -> None:
    """End the session that `refresh_token` belongs to. An unknown token is not an error."""
    async with connection.transaction():
        stored = await repository.get_token_for_update(
            connection, hash_token(refresh_token), REFRESH
        )
        if stored is None or stored.family_id is None:
            return
        await repository.revoke_family(connection, stored.family_id, core.clock.now())
        await record_event(
            connection,
            "logout",
            user_id=stored.user_id,
            context=context,
            details={"session": str(stored.family_id)},
        )


async def log_out_everywhere(
    connection: asyncpg.Connection, core: Core, principal: Principal, context: RequestContext
) -> int:
    """End every session of the signed-in user; return how many refresh tokens were revoked."""
    async with connection.transaction():
        revoked = await repository.revoke_user_tokens(
            connection, principal.id, REFRESH, core.clock.now()
        )
        await record_event(connection, "logout_all", user_id=principal.id, context=context)
    return revoked


async def _active_user(connection: asyncpg.Connection, user_id: uuid.UUID) -> UserRecord:
    user = await repository.get_user(connection, user_id)
    if user is None or not user.can_sign_in:
        raise AuthenticationError("this account is no longer active")
    return user


async def describe_me(connection: asyncpg.Connection, principal: Principal) -> Me:
    user = await _active_user(connection, principal.id)
    roles = await repository.role_names(connection, user.id)
    return Me(
        id=user.id,
        email=user.email,
        name=user.name,
        email_verified=user.email_verified_at is not None,
        roles=roles,
        created_at=user.created_at,
    )


async def change_password(
    connection: asyncpg.Connection,
    core: Core,
    principal: Principal,
    *,
    current_password: str,
    new_password: str,
    context: RequestContext,
) -> None:
    """Change the password and end every other session of the user."""
    user = await _active_user(connection, principal.id)
    verification = await core.hasher.verify(user.password_hash, normalise(current_password))
    if not verification.matches:
        raise InvalidInputError.for_field("current_password", "is not correct")
    password_hash = await core.hasher.hash(
        acceptable_password(new_password, email=user.email, name=user.name, field="new_password")
    )
    now = core.clock.now()
    async with connection.transaction():
        await repository.update_password(connection, user.id, password_hash, now)
        await repository.revoke_user_tokens(
            connection, user.id, REFRESH, now, keep_family=principal.session_id
        )
        await repository.revoke_user_tokens(connection, user.id, PASSWORD_RESET, now)
        await record_event(connection, "password_changed", user_id=user.id, context=context)


async def request_email_verification(
    connection: asyncpg.Connection, core: Core, principal: Principal
) -> MailMessage | None:
    """A new verification mail for the signed-in user, or None if the address is verified."""
    user = await _active_user(connection, principal.id)
    if user.email_verified_at is not None:
        return None
    async with connection.transaction():
        return await links.email_verification_mail(connection, core, user)
