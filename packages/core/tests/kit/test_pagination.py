"""Keyset pagination: the page shape, cursors that round-trip and refuse tampering, `limit`'s
bounds, and walks over a real table that give every row once, in order, while rows arrive."""

from __future__ import annotations

import base64
import hashlib
import hmac
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Annotated, Any
from zoneinfo import ZoneInfo

import asyncpg
import msgspec
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat
from litestar import Litestar, Request, get
from litestar.datastructures import State
from litestar.di import Provide
from litestar.testing import AsyncTestClient

from atriz_core.kit.database import DbConnection, pool_lifespan, provide_connection
from atriz_core.kit.pagination import (
    MAX_CURSOR_LENGTH,
    CursorCodec,
    CursorValue,
    InvalidCursorError,
    Keyset,
    Page,
    cursor_secret_from_signing_key,
)
from atriz_core.kit.pagination_params import (
    CURSORS_STATE_KEY,
    DEFAULT_LIMIT,
    PageCursor,
    PageLimit,
    cursors_of,
    page_limit,
    schema_name,
)
from atriz_core.kit.problems import EXCEPTION_HANDLERS

SECRET = b"a test secret of thirty-two bytes"
BY_SCORE = Keyset("entries.by_score", ("score", "id"))
BY_SCORE_DESCENDING = Keyset("entries.by_score_descending", ("score", "id"), descending=True)
ROWS = 250


class Entry(msgspec.Struct):
    id: uuid.UUID
    score: int


EntryPage = Annotated[Page[Entry], schema_name("EntryPage")]

_LIST = "SELECT id, score FROM entries {after} ORDER BY {order} LIMIT $1"


async def entries_page(
    conn: asyncpg.Connection,
    request: Request[Any, Any, Any],
    keyset: Keyset,
    limit: int,
    cursor: str | None,
) -> Page[Entry]:
    """What a list route's service and repository do, in one place."""
    cursors = cursors_of(request)
    after = cursors.position(cursor, keyset)
    sql = _LIST.format(
        after="" if after is None else f"WHERE {keyset.after(2)}", order=keyset.order_by()
    )
    rows = await conn.fetch(sql, limit + 1, *(after or ()))
    entries = [Entry(id=row["id"], score=row["score"]) for row in rows]
    return cursors.page(entries, limit, keyset, lambda e: (e.score, e.id))


@get("/entries")
async def list_entries(
    conn: DbConnection,
    request: Request[Any, Any, Any],
    limit: Annotated[int, page_limit(50)] = 7,
    cursor: PageCursor = None,
) -> EntryPage:
    """Entries by score."""
    return await entries_page(conn, request, BY_SCORE, limit, cursor)


@get("/entries/descending")
async def list_entries_descending(
    conn: DbConnection,
    request: Request[Any, Any, Any],
    limit: PageLimit = DEFAULT_LIMIT,
    cursor: PageCursor = None,
) -> Page[Entry]:
    """Entries by score, highest first."""
    return await entries_page(conn, request, BY_SCORE_DESCENDING, limit, cursor)


@pytest.fixture
async def database(empty_database_url: str) -> AsyncIterator[asyncpg.Connection]:
    """The test's own connection to a table of 250 entries in five runs of equal scores."""
    connection = await asyncpg.connect(empty_database_url)
    await connection.execute(
        "CREATE TABLE entries (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), score int NOT NULL)"
    )
    await connection.execute(
        "INSERT INTO entries (score) SELECT n / 50 FROM generate_series(0, $1 - 1) AS n", ROWS
    )
    try:
        yield connection
    finally:
        await connection.close()


@pytest.fixture
async def client(
    database: asyncpg.Connection, empty_database_url: str
) -> AsyncIterator[AsyncTestClient[Litestar]]:
    app = Litestar(
        route_handlers=[list_entries, list_entries_descending],
        dependencies={"conn": Provide(provide_connection)},
        lifespan=[pool_lifespan("db_pool", empty_database_url)],
        state=State({CURSORS_STATE_KEY: CursorCodec(SECRET)}),
        exception_handlers=EXCEPTION_HANDLERS,
    )
    async with AsyncTestClient(app=app) as client:
        yield client


async def ids_in_order(database: asyncpg.Connection, order: str) -> list[str]:
    return [
        str(row["id"]) for row in await database.fetch(f"SELECT id FROM entries ORDER BY {order}")
    ]


async def walk(
    client: AsyncTestClient[Litestar], path: str, limit: int, between_pages: Any = None
) -> tuple[list[str], int]:
    """Every page of `path`, following `next_cursor`: the ids seen, and how many requests."""
    seen: list[str] = []
    cursor: str | None = None
    requests = 0
    while True:
        params: dict[str, Any] = {"limit": limit}
        if cursor is not None:
            params["cursor"] = cursor
        response = await client.get(path, params=params)
        requests += 1
        assert response.status_code == 200, response.text
        body = response.json()
        assert set(body) == {"items", "next_cursor"}
        assert 0 < len(body["items"]) <= limit
        seen.extend(item["id"] for item in body["items"])
        cursor = body["next_cursor"]
        if cursor is None:
            return seen, requests
        assert len(body["items"]) == limit
        if between_pages is not None:
            await between_pages()


@pytest.mark.parametrize("limit", [1, 7, 50])
async def test_walking_the_pages_gives_every_row_once_in_order(
    client: AsyncTestClient[Litestar], database: asyncpg.Connection, limit: int
) -> None:
    seen, requests = await walk(client, "/entries", limit)

    assert seen == await ids_in_order(database, "score, id")
    assert requests == -(-ROWS // limit)  # the last full page says no more: no empty page


async def test_walking_a_descending_order(
    client: AsyncTestClient[Litestar], database: asyncpg.Connection
) -> None:
    seen, _ = await walk(client, "/entries/descending", 7)

    assert seen == await ids_in_order(database, "score DESC, id DESC")


async def test_rows_inserted_between_pages_neither_repeat_nor_shift_the_walk(
    client: AsyncTestClient[Litestar], database: asyncpg.Connection
) -> None:
    """With offsets, a row inserted before the current position shifts every later row by one:
    one row is served twice. With keyset cursors a row behind the position is simply not seen,
    and one ahead of it is seen once, in its place."""
    original = await ids_in_order(database, "score, id")
    behind: list[str] = []
    ahead: list[str] = []

    async def insert_two() -> None:
        behind.append(
            str(await database.fetchval("INSERT INTO entries (score) VALUES (-1) RETURNING id"))
        )
        # each one past every row so far, the walk's position included
        ahead.append(
            str(
                await database.fetchval(
                    "INSERT INTO entries (score) SELECT max(score) + 1 FROM entries RETURNING id"
                )
            )
        )
        # and one with a score equal to the rows being walked, wherever its id falls
        await database.execute("INSERT INTO entries (score) VALUES (2)")

    seen, _ = await walk(client, "/entries", 7, insert_two)

    assert len(seen) == len(set(seen))
    assert [i for i in seen if i in set(original)] == original
    assert not set(behind) & set(seen)
    assert [i for i in seen if i in set(ahead)] == ahead
    assert seen == [i for i in await ids_in_order(database, "score, id") if i in set(seen)]


async def test_the_default_limit_applies_and_limits_outside_the_bounds_are_refused(
    client: AsyncTestClient[Litestar],
) -> None:
    default = await client.get("/entries")
    maximum = await client.get("/entries", params={"limit": 50})
    kit_default = await client.get("/entries/descending")

    assert len(default.json()["items"]) == 7
    assert len(maximum.json()["items"]) == 50
    assert len(kit_default.json()["items"]) == 50
    for limit, reason in [("51", "<= 50"), ("0", ">= 1"), ("-1", ">= 1"), ("ten", "int")]:
        response = await client.get("/entries", params={"limit": limit})
        assert response.status_code == 400, limit
        assert response.headers["content-type"] == "application/problem+json"
        (problem,) = response.json()["errors"]
        assert problem["field"] == "limit"
        assert reason in problem["reason"]
    too_many = await client.get("/entries/descending", params={"limit": 201})
    assert too_many.json()["errors"][0]["field"] == "limit"


async def first_cursor(client: AsyncTestClient[Litestar], path: str = "/entries") -> str:
    cursor: str = (await client.get(path, params={"limit": 3})).json()["next_cursor"]
    return cursor


def b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def unb64(cursor: str) -> bytes:
    return base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))


async def assert_refused(
    client: AsyncTestClient[Litestar], cursor: str, reason: str, path: str = "/entries"
) -> None:
    response = await client.get(path, params={"cursor": cursor})
    assert response.status_code == 400, (cursor, response.text)
    assert response.headers["content-type"] == "application/problem+json"
    (problem,) = response.json()["errors"]
    assert problem["field"] == "cursor"
    assert reason in problem["reason"], problem


async def test_a_cursor_with_any_byte_or_character_changed_is_refused(
    client: AsyncTestClient[Litestar],
) -> None:
    cursor = await first_cursor(client)
    assert (await client.get("/entries", params={"cursor": cursor})).status_code == 200
    raw = unb64(cursor)

    for i in range(len(raw)):
        edited = bytearray(raw)
        edited[i] ^= 0x01
        await assert_refused(client, b64(bytes(edited)), "")
    for i, character in enumerate(cursor):
        # every character, the last one too, whose low bits base64 decoders ignore
        other = "B" if character == "A" else "A"
        await assert_refused(client, cursor[:i] + other + cursor[i + 1 :], "")
    await assert_refused(client, cursor[:-1], "")
    await assert_refused(client, cursor + "A", "")
    await assert_refused(client, cursor + "=", "")
    await assert_refused(client, b64(raw[:-1]), "was altered")


@pytest.mark.parametrize(
    "cursor",
    ["x", "!!!!", "AAAA", "null", "é" * 8, b64(b"\x01" + bytes(40)), b64(bytes(200))],
)
async def test_garbage_cursors_are_refused(client: AsyncTestClient[Litestar], cursor: str) -> None:
    await assert_refused(client, cursor, "")


async def test_a_cursor_too_long_is_refused_before_decoding(
    client: AsyncTestClient[Litestar],
) -> None:
    response = await client.get("/entries", params={"cursor": "A" * (MAX_CURSOR_LENGTH + 1)})

    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "cursor"
    with pytest.raises(InvalidCursorError, match="longer than"):
        CursorCodec(SECRET).position("A" * (MAX_CURSOR_LENGTH + 1), BY_SCORE)


async def test_an_empty_cursor_is_the_first_page(client: AsyncTestClient[Litestar]) -> None:
    first = await client.get("/entries", params={"cursor": ""})

    assert first.json() == (await client.get("/entries")).json()


async def test_a_cursor_of_another_list_service_or_version_is_refused(
    client: AsyncTestClient[Litestar],
) -> None:
    ascending = await first_cursor(client)
    descending = await first_cursor(client, "/entries/descending")
    other_service = CursorCodec(b"another service's secret bytes!!").encode(
        BY_SCORE, (0, uuid.uuid4())
    )
    message = b"\x02" + msgspec.msgpack.encode(["entries.by_score", [0, "x"]])
    next_version = b64(message + hmac.new(SECRET, message, hashlib.sha256).digest())

    await assert_refused(client, descending, "belongs to another list or ordering")
    await assert_refused(
        client, ascending, "belongs to another list or ordering", "/entries/descending"
    )
    await assert_refused(client, other_service, "was altered, or has expired")
    await assert_refused(client, next_version, "another version")


ROUND_TRIPS: list[CursorValue] = [
    "",
    "plain",
    "ünïcødé ✓ and 'quotes', commas",
    0,
    -1,
    2**63 - 1,
    -(2**63),
    2**64 - 1,
    0.1,
    -0.0,
    1.0,
    float("inf"),
    1e-300,
    True,
    False,
    None,
    uuid.UUID("00000000-0000-0000-0000-000000000000"),
    uuid.uuid4(),
    datetime(2026, 12, 2, 5, 6, 7, 890123, tzinfo=UTC),
    datetime(2026, 12, 2, 5, 6, 7, 1, tzinfo=timezone(timedelta(hours=5, minutes=30))),
    datetime(2026, 3, 29, 2, 30, tzinfo=timezone(timedelta(hours=-9, seconds=1))),
    datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=14))),
    datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=timezone(-timedelta(hours=14))),
    date(2026, 12, 2),
    Decimal("12.50"),
    Decimal("-0.000001"),
]


@pytest.mark.parametrize("value", ROUND_TRIPS, ids=repr)
def test_cursor_values_round_trip_exactly(value: CursorValue) -> None:
    keyset = Keyset("values", ("v", "id"))
    codec = CursorCodec(SECRET)
    tie = uuid.uuid4()

    decoded, decoded_tie = codec.position(codec.encode(keyset, (value, tie)), keyset) or ()

    assert type(decoded) is type(value)
    assert decoded == value
    assert decoded_tie == tie
    if isinstance(value, datetime):
        assert isinstance(decoded, datetime)
        assert decoded.utcoffset() == value.utcoffset()
        assert decoded.isoformat() == value.isoformat()
    if isinstance(value, float | Decimal):
        assert str(decoded) == str(value)  # -0.0 stays negative; 12.50 keeps its zero


def test_every_value_of_a_position_round_trips_together() -> None:
    keyset = Keyset("everything", tuple(f"c{i}" for i in range(len(ROUND_TRIPS))))
    codec = CursorCodec(SECRET)

    cursor = codec.encode(keyset, ROUND_TRIPS)

    assert list(codec.position(cursor, keyset) or ()) == ROUND_TRIPS
    assert len(cursor) <= MAX_CURSOR_LENGTH


def test_a_zoned_datetime_comes_back_as_its_fixed_offset() -> None:
    keyset = Keyset("zoned", ("at",))
    codec = CursorCodec(SECRET)
    value = datetime(2026, 7, 1, 12, tzinfo=ZoneInfo("Europe/Madrid"))

    (decoded,) = codec.position(codec.encode(keyset, (value,)), keyset) or ()

    assert decoded == value
    assert isinstance(decoded, datetime)
    assert decoded.utcoffset() == timedelta(hours=2)


@pytest.mark.parametrize(
    ("position", "error"),
    [
        ((datetime(2026, 1, 1),), ValueError),  # naive: which instant?
        ((2**64,), ValueError),
        ((b"bytes",), TypeError),
        ((1, 2), ValueError),  # one column, two values
        (("x" * MAX_CURSOR_LENGTH,), ValueError),  # would make a cursor nobody accepts
    ],
)
def test_what_a_cursor_cannot_hold_is_refused_when_issued(
    position: tuple[Any, ...], error: type[Exception]
) -> None:
    with pytest.raises(error):
        CursorCodec(SECRET).encode(Keyset("one", ("v",)), position)


def test_a_short_secret_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 16 bytes"):
        CursorCodec(b"too short")


def test_keyset_sql() -> None:
    assert BY_SCORE.order_by() == "score, id"
    assert BY_SCORE.after(3) == "(score, id) > ($3, $4)"
    assert BY_SCORE_DESCENDING.order_by() == "score DESC, id DESC"
    assert BY_SCORE_DESCENDING.after(1) == "(score, id) < ($1, $2)"


def test_a_page_of_limit_plus_one_rows_points_at_its_last_item() -> None:
    codec = CursorCodec(SECRET)
    keyset = Keyset("numbers", ("n",))

    full = codec.page([1, 2, 3, 4], 3, keyset, lambda n: (n,))
    last = codec.page([1, 2, 3], 3, keyset, lambda n: (n,))

    assert full.items == [1, 2, 3]
    assert codec.position(full.next_cursor, keyset) == (3,)
    assert last == Page(items=[1, 2, 3], next_cursor=None)


def test_the_secret_derived_from_a_signing_key_is_stable_and_key_specific() -> None:
    def raw(key: Ed25519PrivateKey) -> bytes:
        return key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())

    key, other = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    secret = cursor_secret_from_signing_key(raw(key))
    keyset = Keyset("users", ("id",))
    cursor = CursorCodec(secret).encode(keyset, (uuid.uuid4(),))

    assert len(secret) == 32
    assert secret == cursor_secret_from_signing_key(raw(key))
    assert raw(key) not in secret
    with pytest.raises(InvalidCursorError, match="has expired"):
        CursorCodec(cursor_secret_from_signing_key(raw(other))).position(cursor, keyset)


async def test_openapi_shows_the_page_with_its_items_and_the_bounds_of_limit(
    client: AsyncTestClient[Litestar],
) -> None:
    schema = (await client.get("/schema/openapi.json")).json()
    components = schema["components"]["schemas"]
    operation = schema["paths"]["/entries"]["get"]
    parameters = {p["name"]: p for p in operation["parameters"]}
    descending = schema["paths"]["/entries/descending"]["get"]
    descending_ref = descending["responses"]["200"]["content"]["application/json"]["schema"]
    default_parameters = {p["name"]: p for p in descending["parameters"]}

    assert operation["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/EntryPage"
    }
    page = components["EntryPage"]
    assert page["properties"]["items"] == {
        "items": {"$ref": "#/components/schemas/Entry"},
        "type": "array",
    }
    assert sorted(page["required"]) == ["items", "next_cursor"]
    # without `schema_name` the generic page keeps its item schema, under a longer name
    unnamed = components[descending_ref["$ref"].rsplit("/", 1)[1]]
    assert unnamed["properties"]["items"]["items"] == {"$ref": "#/components/schemas/Entry"}
    limit = parameters["limit"]["schema"]
    assert (limit["minimum"], limit["maximum"], limit["default"]) == (1, 50, 7)
    assert parameters["limit"]["required"] is False
    assert parameters["cursor"]["schema"]["maxLength"] == MAX_CURSOR_LENGTH
    assert parameters["cursor"]["required"] is False
    kit_limit = default_parameters["limit"]["schema"]
    assert (kit_limit["maximum"], kit_limit["default"]) == (200, 50)
