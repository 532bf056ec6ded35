"""Request limits held in `atriz_shared`, so that they hold across every core process.

Registration costs an argon2 hash and sends a mail, and the verification and reset requests send
mail to any address: each is counted per client address and per target e-mail in fixed windows
(`request_limits`); beyond a limit the caller gets 429 with `Retry-After`. Counting happens in
one statement before the work, so concurrent requests cannot slip past a limit together.

IPv6 clients are counted by their /64: a single host is usually given a whole /64, and counting
each of its 2^64 addresses apart would make every per-address limit void.
"""

from __future__ import annotations

import logging
import math
from datetime import datetime, timedelta
from ipaddress import IPv6Address, ip_address, ip_network

import asyncpg

from atriz_core.context import Core, RequestContext
from atriz_core.errors import TooManyRequestsError

__all__ = [
    "PURGE_INTERVAL_SECONDS",
    "address_bucket",
    "email_bucket",
    "enforce_limit",
    "enforce_mail_limits",
    "purge_stale_limits",
]

PURGE_INTERVAL_SECONDS = 300.0
logger = logging.getLogger(__name__)


def address_bucket(address: str | None) -> str | None:
    """The key a client address is limited under: itself, or its /64 for IPv6."""
    if address is None:
        return None
    try:
        parsed = ip_address(address)
    except ValueError:
        return address
    if isinstance(parsed, IPv6Address):
        if parsed.ipv4_mapped is not None:
            return str(parsed.ipv4_mapped)
        return str(ip_network(f"{parsed}/64", strict=False))
    return str(parsed)


# Folded by the database, as `citext` folds the addresses accounts are found by: Python's
# `casefold` differs (`İ` becomes `i` and a combining dot, PostgreSQL's `lower` gives `i`), so
# each spelling of one account's address had a limit of its own.
_EMAIL_BUCKET = "SELECT encode(sha256(convert_to(lower($1::text), 'UTF8')), 'hex')"


async def email_bucket(connection: asyncpg.Connection | asyncpg.Pool, email: str) -> str:
    """A target e-mail as a limit key: hashed, so the table keeps no address in clear."""
    bucket: str = await connection.fetchval(_EMAIL_BUCKET, email.strip())
    return bucket


_COUNT = """
INSERT INTO request_limits AS l (bucket, subject, hits, window_started_at)
VALUES ($1, $2, 1, $3)
ON CONFLICT (bucket, subject) DO UPDATE SET
    hits = CASE WHEN l.window_started_at > $3::timestamptz - make_interval(secs => $4)
        THEN l.hits + 1 ELSE 1 END,
    window_started_at = CASE WHEN l.window_started_at > $3::timestamptz - make_interval(secs => $4)
        THEN l.window_started_at ELSE $3::timestamptz END
RETURNING hits, window_started_at
"""


async def enforce_limit(
    connection: asyncpg.Connection | asyncpg.Pool,
    bucket: str,
    subject: str | None,
    *,
    now: datetime,
    limit: int,
    window_seconds: int,
    detail: str,
) -> None:
    """Count one request of `subject` in `bucket`; 429 once it is past `limit` in the window.

    Requests refused still count: a client that keeps trying keeps its window full. A `subject`
    of None (no client address known) is not limited.
    """
    if subject is None:
        return
    row = await connection.fetchrow(_COUNT, bucket, subject, now, float(window_seconds))
    if row["hits"] > limit:
        ends = row["window_started_at"] + timedelta(seconds=window_seconds)
        raise TooManyRequestsError(detail, math.ceil((ends - now).total_seconds()))


async def enforce_mail_limits(
    pool: asyncpg.Pool | asyncpg.Connection,
    core: Core,
    *,
    email: str,
    context: RequestContext,
    bucket: str,
) -> None:
    """429 once `email` has been sent too many mails, or the caller's address asked for too
    many, in the window, whoever asks (so the answer tells nothing of whether it has an
    account)."""
    settings, now = core.settings, core.clock.now()
    window = settings.request_limit_window_seconds
    await enforce_limit(
        pool,
        f"{bucket}:address",
        address_bucket(context.client_address),
        now=now,
        limit=settings.mail_per_address,
        window_seconds=window,
        detail="too many requests from this address; try again later",
    )
    await enforce_limit(
        pool,
        "mail:email",
        await email_bucket(pool, email),
        now=now,
        limit=settings.mail_per_email,
        window_seconds=window,
        detail="too many mails to this address; try again later",
    )


async def purge_stale_limits(
    connection: asyncpg.Connection | asyncpg.Pool,
    now: datetime,
    *,
    address_window_seconds: int,
    request_window_seconds: int,
) -> int:
    """Delete windows that have ended (failed-login and request counters); return how many."""
    deleted = 0
    for sql, seconds in (
        (
            "DELETE FROM login_throttle"
            " WHERE window_started_at <= $1::timestamptz - make_interval(secs => $2)",
            address_window_seconds,
        ),
        (
            "DELETE FROM request_limits"
            " WHERE window_started_at <= $1::timestamptz - make_interval(secs => $2)",
            request_window_seconds,
        ),
    ):
        status: str = await connection.execute(sql, now, float(seconds))
        deleted += int(status.split()[-1])
    return deleted
