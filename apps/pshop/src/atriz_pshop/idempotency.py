"""`Idempotency-Key` for the shop's writes: a retried request gets the first one's response.

A key is scoped to the signed-in user and the route (a void's route names its sale) and bound
to a fingerprint of the request body (SHA-256 of its canonical JSON). In the write's own
transaction (the kit's `provide_db`), before any effect:

1. `pg_try_advisory_xact_lock` on a hash of (user, route, key): if another transaction holds
   it, the first request with this key is still in flight, so 409 at once rather than queueing
   behind it. The lock is transaction-scoped: it ends with the commit or rollback, and no
   session state outlives the request.
2. `INSERT ... ON CONFLICT DO NOTHING` of the key row (an expired row is taken over). A row
   that exists was committed by an earlier request: same fingerprint, its stored response is
   replayed with `Idempotent-Replayed: true`; another fingerprint, 422.
3. The effect runs, and its response is stored in the key row, in the same transaction: they
   commit together, or (a failed sale, a killed process) neither exists and the key is free
   for a retry.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Annotated, Any, TypeVar

import asyncpg
import msgspec
from litestar import Litestar, Response
from litestar.params import HeaderParameter

from atriz_core.errors import ConflictError, FieldProblem, InvalidInputError
from atriz_core.kit.text import END

__all__ = [
    "HEADER",
    "REPLAYED_HEADER",
    "IdempotencyKey",
    "OptionalIdempotencyKey",
    "expired_key_purger",
    "fingerprint",
    "idempotent",
    "purge_expired_keys",
]

logger = logging.getLogger(__name__)

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
_KEY_PATTERN = r"^[!-~]{1,255}" + END
_DESCRIPTION = (
    "A client-chosen key (1 to 255 visible ASCII characters, a UUID is ideal): a retry with the"
    " same key and body gets the first response again (with `Idempotent-Replayed: true`); the"
    " same key with another body is a 422; while the first request is still running, 409."
)
IdempotencyKey = Annotated[
    str, HeaderParameter(name=HEADER, pattern=_KEY_PATTERN, description=_DESCRIPTION)
]
OptionalIdempotencyKey = Annotated[
    str | None,
    HeaderParameter(name=HEADER, pattern=_KEY_PATTERN, required=False, description=_DESCRIPTION),
]

T = TypeVar("T")

_LOCK = "SELECT pg_try_advisory_xact_lock(hashtextextended($1, 0))"
_CLAIM = """
INSERT INTO idempotency_keys (user_id, route, key, fingerprint, expires_at)
VALUES ($1, $2, $3, $4, now() + make_interval(hours => $5))
ON CONFLICT (user_id, route, key) DO UPDATE
    SET fingerprint = EXCLUDED.fingerprint, status_code = NULL, response = NULL,
        created_at = now(), expires_at = EXCLUDED.expires_at
    WHERE idempotency_keys.expires_at <= now()
RETURNING true
"""
_STORED = """
SELECT fingerprint, status_code, response FROM idempotency_keys
WHERE user_id = $1 AND route = $2 AND key = $3
"""
_STORE = """
UPDATE idempotency_keys SET status_code = $4, response = $5
WHERE user_id = $1 AND route = $2 AND key = $3
"""

_PURGE = """
DELETE FROM idempotency_keys k
USING (SELECT user_id, route, key FROM idempotency_keys WHERE expires_at <= now() LIMIT $1) e
WHERE k.user_id = e.user_id AND k.route = e.route AND k.key = e.key
"""


def fingerprint(body: Any) -> bytes:
    """SHA-256 of the decoded body encoded again: the same request whatever its spacing."""
    return hashlib.sha256(msgspec.json.encode(body, order="sorted")).digest()


async def idempotent(
    conn: asyncpg.Connection,
    *,
    user_id: uuid.UUID,
    route: str,
    key: str | None,
    body: Any,
    response_type: type[T],
    status_code: int,
    hours: int,
    effect: Callable[[], Awaitable[T]],
) -> Response[T]:
    """Run `effect` once per (user, route, key) and answer with its result, or replay the
    response stored by the first request with this key (see the module docstring). Without a
    key, `effect` simply runs."""
    if key is None:
        return Response(await effect(), status_code=status_code)
    printed = fingerprint(body)
    # Spaces cannot occur in a key (visible ASCII only): the three parts stay apart.
    if not await conn.fetchval(_LOCK, f"{user_id} {route} {key}"):
        raise ConflictError(
            "a request with this Idempotency-Key is still in flight; retry once it has finished",
            [FieldProblem(HEADER, "is in use by a request still in flight")],
        )
    claimed = await conn.fetchval(_CLAIM, user_id, route, key, printed, hours)
    if not claimed:
        stored = await conn.fetchrow(_STORED, user_id, route, key)
        if not hmac.compare_digest(bytes(stored["fingerprint"]), printed):
            raise InvalidInputError.for_field(
                HEADER, "was already used with another request body; use a new key"
            )
        replayed = msgspec.json.decode(bytes(stored["response"]), type=response_type)
        return Response(
            replayed, status_code=stored["status_code"], headers={REPLAYED_HEADER: "true"}
        )
    result = await effect()
    await conn.execute(_STORE, user_id, route, key, status_code, msgspec.json.encode(result))
    return Response(result, status_code=status_code)


async def purge_expired_keys(conn: asyncpg.Connection, *, batch: int = 1000) -> int:
    """Delete expired keys, `batch` rows per statement (short locks); how many went."""
    purged = 0
    while True:
        status = await conn.execute(_PURGE, batch)
        count = int(status.split()[-1])
        purged += count
        if count < batch:
            return purged


def expired_key_purger(
    interval_seconds: float = 3600.0,
) -> Callable[[Litestar], AbstractAsyncContextManager[None]]:
    """A lifespan that purges expired keys every `interval_seconds` while the service runs
    (each worker does; a second purge finds nothing). An expired key is also taken over by
    the next request that uses it, so the purge only keeps the table small."""

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        async def purge_forever() -> None:
            while True:
                await asyncio.sleep(interval_seconds)
                try:
                    async with app.state.db_pool.acquire() as conn:
                        purged = await purge_expired_keys(conn)
                    if purged:
                        logger.info("purged %d expired idempotency keys", purged)
                except Exception as exc:  # logged, and tried again next time
                    logger.warning("purging expired idempotency keys failed: %r", exc)

        task = asyncio.create_task(purge_forever(), name="pshop-idempotency-purge")
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    return lifespan
