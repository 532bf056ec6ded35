"""The example app: a service built with the kit alone, as small as an app can be.

One table (`notes`, each owned by a user of `atriz_shared`), a list route (the signed-in
user's notes, a page at a time), a write route (a new note; a `notes.moderator` may write one
for another user, who must exist), a read route (the owner or a moderator), and a user-event
policy (a deleted user's notes go). It lives in this conftest so that pytest imports it; an app
of its own would split it into app.py, settings.py, db.py, users.py and notes/ as
CONVENTIONS.md shows.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import asyncpg
import msgspec
import pytest
from httpx import ASGITransport, AsyncClient
from litestar import Controller, Litestar, Request, get, post
from litestar.params import FromPath, JSONBody

from atriz_core.client import CurrentUser, hold_users, requires_role
from atriz_core.client.user_events import DELETED, UserEvent
from atriz_core.client.verifier import Principal
from atriz_core.errors import ForbiddenError, NotFoundError
from atriz_core.kit.database import DbConnection, SharedDb
from atriz_core.kit.openapi import problem_responses
from atriz_core.kit.pagination import Keyset, Page
from atriz_core.kit.pagination_params import (
    DEFAULT_LIMIT,
    PageCursor,
    PageLimit,
    cursors_of,
    schema_name,
)
from atriz_core.kit.service import app_service
from atriz_core.kit.settings import AppSettings
from atriz_core.testing import DatabaseFactory, DirectSql, TokenMinter, app_databases, serving
from atriz_database import DatabaseSettings, DatabaseTarget, Environment
from atriz_database.testing import DatabaseRoute

HERE = Path(__file__).parent
SERVICE = "notes"
MODERATOR = "notes.moderator"
target = DatabaseTarget(
    name=SERVICE,
    database="notes_db",
    url_env="NOTES_DATABASE_URL",
    migrations=HERE / "notes_migrations",
    seeds=HERE / "notes_migrations",
    depends_on=("core",),
)


# schemas.py
Body = Annotated[str, msgspec.Meta(min_length=1, max_length=2000)]


class NoteCreate(msgspec.Struct, forbid_unknown_fields=True):
    body: Body
    owner_id: uuid.UUID | None = None
    """Another user's, for a moderator; the caller's own when left out."""


class Note(msgspec.Struct):
    id: uuid.UUID
    owner_id: uuid.UUID
    body: str
    created_at: datetime


class NoteCount(msgspec.Struct):
    notes: int


# repository.py
BY_CREATION = Keyset("notes.notes.by_creation", ("created_at", "id"))
_COLUMNS = "id, owner_id, body, created_at"
_LIST = f"SELECT {_COLUMNS} FROM notes WHERE owner_id = $1 {{after}} ORDER BY {{order}} LIMIT $2"
_FIRST = _LIST.format(after="", order=BY_CREATION.order_by())
_AFTER = _LIST.format(after=f"AND {BY_CREATION.after(3)}", order=BY_CREATION.order_by())


async def list_notes(
    conn: asyncpg.Connection, owner: uuid.UUID, after: tuple[Any, ...] | None, fetch: int
) -> list[Note]:
    rows = await (
        conn.fetch(_FIRST, owner, fetch)
        if after is None
        else conn.fetch(_AFTER, owner, fetch, *after)
    )
    return [Note(**dict(row)) for row in rows]


# controllers.py
NotePage = Annotated[Page[Note], schema_name("NotePage")]


class NoteController(Controller):
    path = "/notes"
    tags = ["notes"]

    @get("/")
    async def list_notes(
        self,
        conn: DbConnection,
        request: Request[Principal, Any, Any],
        limit: PageLimit = DEFAULT_LIMIT,
        cursor: PageCursor = None,
    ) -> NotePage:
        """The signed-in user's notes, oldest first, a page at a time."""
        cursors = cursors_of(request)
        position = cursors.position(cursor, BY_CREATION)
        rows = await list_notes(conn, request.user.id, position, limit + 1)
        return cursors.page(rows, limit, BY_CREATION, lambda note: (note.created_at, note.id))

    @post("/", responses=problem_responses(422))
    async def create_note(
        self,
        data: JSONBody[NoteCreate],
        conn: DbConnection,
        shared_conn: SharedDb,
        request: Request[Principal, Any, Any],
    ) -> Note:
        """A new note of the caller's or, for a moderator, of the user named (who must exist)."""
        caller = request.user
        owner = data.owner_id or caller.id
        if owner != caller.id and not caller.has_role(MODERATOR):
            raise ForbiddenError("only a moderator writes notes for another user")
        await hold_users(conn, shared_conn, [owner], field="owner_id", signed_in=caller.id)
        row = await conn.fetchrow(
            f"INSERT INTO notes (owner_id, body) VALUES ($1, $2) RETURNING {_COLUMNS}",
            owner,
            data.body,
        )
        return Note(**dict(row))

    @get("/{note_id:uuid}")
    async def get_note(
        self, note_id: FromPath[uuid.UUID], conn: DbConnection, current_user: CurrentUser
    ) -> Note:
        """One note: the owner's, or any for a moderator; 404 for anyone else's."""
        row = await conn.fetchrow(f"SELECT {_COLUMNS} FROM notes WHERE id = $1", note_id)
        if row is None or (
            row["owner_id"] != current_user.id and not current_user.has_role(MODERATOR)
        ):
            raise NotFoundError(f"no note {note_id}")
        return Note(**dict(row))

    @get("/count", guards=[requires_role(MODERATOR)])
    async def count_notes(self, conn: DbConnection) -> NoteCount:
        """How many notes there are (moderators only)."""
        return NoteCount(notes=await conn.fetchval("SELECT count(*) FROM notes"))


# users.py: the app's policy for its users' lives
async def apply_user_event(conn: asyncpg.Connection, event: UserEvent) -> None:
    """A deleted user's notes go; a deactivated user's stay (they may come back)."""
    if event.event_type == DELETED:
        await conn.execute("DELETE FROM notes WHERE owner_id = $1", event.user_id)


# app.py
def create_app(settings: AppSettings, *, verifier: Any = None) -> Litestar:
    """The whole service: its controllers and its user-event policy."""
    return app_service(
        settings,
        route_handlers=[NoteController],
        user_events=apply_user_event,
        verifier=verifier,
    )


# The test side.
@pytest.fixture
def token_minter() -> TokenMinter:
    """Tokens for the example app's audience."""
    return TokenMinter(audiences=(SERVICE,))


@pytest.fixture
def notes_settings(
    migrated_database: DatabaseFactory, core_database_url: str, database_route: DatabaseRoute
) -> AppSettings:
    own = migrated_database(target)
    assert own.core_url == core_database_url
    return AppSettings(
        service=SERVICE,
        environment=Environment.TEST,
        port=8009,
        cursor_secret=b"example app cursor secret, 32 b.",
        **app_databases(
            database_route,
            own,
            DatabaseSettings(pool_min_size=1, pool_max_size=5, acquire_timeout=5),
        ),
    )


@dataclass
class RunningNotes(DirectSql):
    app: Litestar
    client: AsyncClient
    settings: AppSettings


@pytest.fixture
async def notes(
    notes_settings: AppSettings, token_minter: TokenMinter
) -> AsyncIterator[RunningNotes]:
    """The example app, serving (lifespan, consumer and revocation feed running)."""
    app = create_app(notes_settings, verifier=token_minter.verifier(SERVICE))
    transport = ASGITransport(app=app)  # type: ignore[arg-type]
    async with (
        serving(app),
        AsyncClient(transport=transport, base_url="http://notes.test") as client,
    ):
        yield RunningNotes(app, client, notes_settings)


@dataclass(frozen=True)
class NotesExample:
    """What the tests use of the example app (test modules cannot import a conftest)."""

    service: str = SERVICE
    moderator: str = MODERATOR
    controller: type[Controller] = NoteController
    apply_user_event: Any = apply_user_event
    target: DatabaseTarget = target


@pytest.fixture
def example() -> NotesExample:
    return NotesExample()
