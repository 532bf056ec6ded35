"""One page shape in every service, `{"items": [...], "next_cursor": "..." | null}`, with keyset
cursors that clients cannot read meaning into, edit or carry to another list.

This module is plain Python (repositories and services import it); what a route adds in Litestar,
its query parameters, its page's name in OpenAPI and the service's codec, is in
`atriz_core.kit.pagination_params`. A list route in three pieces:

```python
# repository.py: the ordering, and the statement with and without a position
BY_CREATION = Keyset("pshop.products.by_creation", ("p.created_at", "p.id"))
_LIST = "SELECT ... FROM products p WHERE p.shop_id = $1 {after} ORDER BY {order} LIMIT $2"
_FIRST = _LIST.format(after="", order=BY_CREATION.order_by())
_AFTER = _LIST.format(after=f"AND {BY_CREATION.after(3)}", order=BY_CREATION.order_by())

async def list_products(conn, shop_id, after, fetch):
    if after is None:
        return [... await conn.fetch(_FIRST, shop_id, fetch)]
    return [... await conn.fetch(_AFTER, shop_id, fetch, *after)]

# services.py: one row more than the page, to know whether another page follows
async def list_products(conn, cursors, shop_id, limit, cursor) -> Page[Product]:
    after = cursors.position(cursor, repository.BY_CREATION)  # 400 on a bad cursor
    rows = await repository.list_products(conn, shop_id, after, limit + 1)
    return cursors.page(rows, limit, repository.BY_CREATION, lambda p: (p.created_at, p.id))

# controllers.py (with pagination_params): the page's name in OpenAPI (here, not in schemas.py,
# which services import: `schema_name` is Litestar's), and the query parameters, validated and
# documented by Litestar
ProductPage = Annotated[Page[Product], schema_name("ProductPage")]

async def list_products(self, conn: DbConnection, request: Request,
                        limit: PageLimit = DEFAULT_LIMIT, cursor: PageCursor = None) -> ProductPage:
    return await services.list_products(conn, cursors_of(request), ..., limit, cursor)
```

Why each part is as it is:

- **Keyset, not offset.** `WHERE (created_at, id) > ($3, $4) ORDER BY created_at, id LIMIT n` costs
  the same on page 1 and page 1000 (an index on the columns serves it), and a row inserted or
  deleted between two requests neither repeats nor skips a row of the walk. For the same reason a
  page carries no total: counting every matching row on every page is the work keyset pagination
  exists to avoid.
- **Opaque and signed.** A cursor is `base64url(version || msgpack([keyset name, position]) ||
  HMAC-SHA256(secret, version || payload))`. The MAC (compared in constant time) refuses an edited,
  truncated or made-up cursor, and one issued with another secret (another service, or this one
  before its secret changed); the keyset name inside refuses a cursor of another list or ordering.
  Each is a 400 problem naming the field `cursor` with the reason. A cursor does not expire and
  does not bind the list's filters: it is a position in an ordering, valid for any filter.

Values that round-trip exactly through a cursor: `str`, `int` (64-bit), `float`, `bool`, `None`,
`UUID`, `Decimal`, `date` and timezone-aware `datetime` (the instant and its UTC offset, to the
microsecond, as PostgreSQL's `timestamptz` holds it; a `ZoneInfo` comes back as its fixed offset).
Sort columns must be `NOT NULL`: a row-value comparison with NULL matches nothing.

`InvalidCursorError` is a `DomainError`, so the kit's problem handlers already answer it. Core
derives its cursor secret from its signing key (`cursor_secret_from_signing_key`).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import struct
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any, Generic, TypeVar

import msgspec
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from atriz_core.errors import DomainError, FieldProblem

__all__ = [
    "CURSOR_VERSION",
    "MAX_CURSOR_LENGTH",
    "CursorCodec",
    "CursorValue",
    "InvalidCursorError",
    "Keyset",
    "Page",
    "cursor_secret_from_signing_key",
]

T = TypeVar("T")

CursorValue = str | int | float | bool | None | uuid.UUID | datetime | date | Decimal
"""What a position in an ordering may hold."""

CURSOR_VERSION = 1
"""The cursor format's version, its first byte (and under the MAC)."""
MAX_CURSOR_LENGTH = 1024
"""The longest cursor, in characters: refused before any decoding, and never issued."""
MIN_SECRET_BYTES = 16
_MAC_BYTES = hashlib.sha256().digest_size
_MAX_KEYSET_NAME = 100
_CORE_CURSOR_INFO = b"atriz pagination cursor"


class Page(msgspec.Struct, Generic[T]):
    """One page of a list: its items, and the cursor of the next page (null on the last).

    Litestar renders `Page[Product]` in OpenAPI with the item's schema, under the component name
    `Page_<module>.Product_`; `Annotated[Page[Product], schema_name("ProductPage")]` names it
    `ProductPage` (`schema_name` is in `atriz_core.kit.pagination_params`). (A subclass,
    `class ProductPage(Page[Product])`, loses the item schema: Litestar's generator does not
    resolve a type parameter through a base class.)
    """

    items: list[T]
    next_cursor: str | None
    """Pass as `cursor` to get the next page; null when this page is the last."""


class InvalidCursorError(DomainError):
    """A cursor that this list cannot continue from: a 400 naming the field and the reason."""

    status = 400
    title = "Invalid request"

    def __init__(self, reason: str, field: str = "cursor") -> None:
        super().__init__(f"{field} {reason}", [FieldProblem(field, reason)])


@dataclass(frozen=True)
class Keyset:
    """An ordering a list pages through: SQL expressions, all ascending or all descending, the
    last one unique (the primary key), so that every row has one position and ties are broken.

    `name` goes into every cursor, so that a cursor of one list or ordering is refused by another:
    give every ordering of every list its own, led by the service's name
    (`"pshop.products.by_creation"`), since services may share one `ATRIZ_CURSOR_SECRET`.
    `columns` are SQL written in code, never taken from a request.
    """

    name: str
    columns: tuple[str, ...]
    descending: bool = False

    def __post_init__(self) -> None:
        if not self.name or len(self.name) > _MAX_KEYSET_NAME:
            raise ValueError(f"a keyset name has 1 to {_MAX_KEYSET_NAME} characters")
        if not self.columns:
            raise ValueError("a keyset orders by at least one column (the last one unique)")

    def order_by(self) -> str:
        """The `ORDER BY` list: `p.created_at, p.id` (or each `DESC`)."""
        direction = " DESC" if self.descending else ""
        return ", ".join(f"{column}{direction}" for column in self.columns)

    def after(self, first_parameter: int) -> str:
        """The condition for rows after a position passed as parameters from `$first_parameter`:
        `(p.created_at, p.id) > ($3, $4)`.

        A row-value comparison, which PostgreSQL serves from a btree index on the same columns
        in the same order, and whose parameter types it infers from the columns.
        """
        columns = ", ".join(self.columns)
        parameters = ", ".join(f"${first_parameter + i}" for i in range(len(self.columns)))
        return f"({columns}) {'<' if self.descending else '>'} ({parameters})"


# msgpack carries str, int, float, bool and nil as themselves; these travel as extension types,
# so that each comes back as the type it was, not as the string a plain encoding makes of it.
_EXT_UUID = 1
_EXT_DATETIME = 2
_EXT_DECIMAL = 3
_EXT_DATE = 4
_MICROSECOND = timedelta(microseconds=1)
# The wall time in microseconds since 0001-01-01 and the UTC offset in microseconds: the wall
# time rather than the instant, which near year 1 or 9999 may lie outside `datetime`'s range.
_DATETIME = struct.Struct(">qq")
_DATE = struct.Struct(">i")  # proleptic Gregorian ordinal


def _pack(value: CursorValue) -> Any:
    if value is None or isinstance(value, bool | str | float):
        return value
    if isinstance(value, int):
        if not -(2**63) <= value < 2**64:
            raise ValueError("an int in a cursor must fit in 64 bits")
        return value
    if isinstance(value, uuid.UUID):
        return msgspec.msgpack.Ext(_EXT_UUID, value.bytes)
    if isinstance(value, datetime):
        offset = value.utcoffset()
        if offset is None:
            raise ValueError("a datetime in a cursor must be timezone-aware")
        wall = (value.replace(tzinfo=None) - datetime.min) // _MICROSECOND
        return msgspec.msgpack.Ext(_EXT_DATETIME, _DATETIME.pack(wall, offset // _MICROSECOND))
    if isinstance(value, date):
        return msgspec.msgpack.Ext(_EXT_DATE, _DATE.pack(value.toordinal()))
    if isinstance(value, Decimal):
        return msgspec.msgpack.Ext(_EXT_DECIMAL, str(value).encode("ascii"))
    raise TypeError(f"a cursor cannot hold a {type(value).__name__}")


def _unpack(code: int, data: memoryview) -> CursorValue:
    if code == _EXT_UUID:
        return uuid.UUID(bytes=bytes(data))
    if code == _EXT_DATETIME:
        wall, offset = _DATETIME.unpack(data)
        zone = timezone(timedelta(microseconds=offset))
        return (datetime.min + timedelta(microseconds=wall)).replace(tzinfo=zone)
    if code == _EXT_DATE:
        return date.fromordinal(_DATE.unpack(data)[0])
    if code == _EXT_DECIMAL:
        return Decimal(bytes(data).decode("ascii"))
    raise ValueError(f"unknown extension type {code}")


_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(tuple[str, list[Any]], ext_hook=_unpack)

_ALTERED = "was altered, or has expired (a key rotation); request the first page again"
_MALFORMED = "is not a cursor issued by this service"


class CursorCodec:
    """Issues and checks the cursors of one service, keyed by its secret.

    Every worker of the service must hold the same secret, or a page served by one is not
    continued by another; changing it invalidates every open cursor (a 400: the client starts
    the list again).
    """

    def __init__(self, secret: bytes) -> None:
        if len(secret) < MIN_SECRET_BYTES:
            raise ValueError(f"a cursor secret has at least {MIN_SECRET_BYTES} bytes")
        # Keyed once; each cursor copies the keyed state rather than hashing the key again.
        self._mac = hmac.new(secret, digestmod=hashlib.sha256)

    def _sign(self, message: bytes) -> bytes:
        mac = self._mac.copy()
        mac.update(message)
        return mac.digest()

    def encode(self, keyset: Keyset, position: Sequence[CursorValue]) -> str:
        """The cursor of the row at `position` (one value per column of `keyset`)."""
        if len(position) != len(keyset.columns):
            raise ValueError(f"{keyset.name} orders by {len(keyset.columns)} columns")
        message = bytes((CURSOR_VERSION,)) + _encoder.encode(
            (keyset.name, [_pack(value) for value in position])
        )
        cursor = base64.urlsafe_b64encode(message + self._sign(message)).rstrip(b"=").decode()
        if len(cursor) > MAX_CURSOR_LENGTH:
            # Never issue a cursor that `position` would refuse: sort by shorter values.
            raise ValueError(f"a cursor of {keyset.name} would exceed {MAX_CURSOR_LENGTH} chars")
        return cursor

    def position(
        self, cursor: str | None, keyset: Keyset, *, field: str = "cursor"
    ) -> tuple[CursorValue, ...] | None:
        """The position `cursor` continues from, or None for the first page (no cursor, or an
        empty one). Raises `InvalidCursorError` (400, naming `field`) for anything this service
        did not issue for `keyset`."""
        if not cursor:
            return None
        if len(cursor) > MAX_CURSOR_LENGTH:
            raise InvalidCursorError(f"is longer than {MAX_CURSOR_LENGTH} characters", field)
        raw = _decode_base64(cursor)
        if raw is None or len(raw) <= 1 + _MAC_BYTES:
            raise InvalidCursorError(_MALFORMED, field)
        message, mac = raw[:-_MAC_BYTES], raw[-_MAC_BYTES:]
        if not hmac.compare_digest(mac, self._sign(message)):
            raise InvalidCursorError(_ALTERED, field)
        # Authentic from here on: what follows tells a stale or misdirected cursor apart.
        if message[0] != CURSOR_VERSION:
            raise InvalidCursorError(
                "was issued by another version of this service; request the first page again",
                field,
            )
        try:
            name, values = _decoder.decode(message[1:])
        except (msgspec.DecodeError, ValueError, struct.error, OverflowError) as exc:
            raise InvalidCursorError(_MALFORMED, field) from exc
        if name != keyset.name or len(values) != len(keyset.columns):
            raise InvalidCursorError("belongs to another list or ordering", field)
        return tuple(values)

    def page(
        self,
        rows: Sequence[T],
        limit: int,
        keyset: Keyset,
        position: Callable[[T], Sequence[CursorValue]],
    ) -> Page[T]:
        """The page of `rows`, fetched with `LIMIT limit + 1`: the extra row only tells that
        another page follows, and the cursor points at the last row shown, so the next page
        starts right after it. `position(row)` gives the row's values of the keyset's columns.
        """
        if limit < 1:
            raise ValueError("a page holds at least one item")
        if len(rows) <= limit:
            return Page(items=list(rows), next_cursor=None)
        items = list(rows[:limit])
        return Page(items=items, next_cursor=self.encode(keyset, position(items[-1])))


def _decode_base64(cursor: str) -> bytes | None:
    """The bytes of an unpadded urlsafe base64 string in its one canonical spelling, else None.

    Python's decoder skips characters outside the alphabet and ignores the unused low bits of the
    last character, so several spellings decode to the same bytes; only the one `encode` writes
    is accepted, so that changing any character of a cursor is refused, not silently equivalent.
    """
    try:  # a non-ASCII string is a ValueError
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
    except (binascii.Error, ValueError):
        return None
    if base64.urlsafe_b64encode(raw).rstrip(b"=").decode() != cursor:
        return None
    return raw


def cursor_secret_from_signing_key(private_key: bytes) -> bytes:
    """A 32-byte cursor secret derived from a signing key's raw private bytes (HKDF-SHA256,
    info `atriz pagination cursor`), for core, which has a signing key and no other secret.

    The derivation is one-way: a cursor reveals nothing of the key. Every worker loads the same
    key, so every worker continues every cursor; rotating the key changes the secret, so cursors
    open at that moment are refused (400) and their clients request the first page again.
    """
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_CORE_CURSOR_INFO)
    return hkdf.derive(private_key)
