"""The test kit itself: migrated databases, real users, the route walker, the authorization
matrix and schema fuzzing, each shown to catch what it is for."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Annotated, Any

import jwt
import msgspec
import psycopg
import pytest
from httpx import AsyncClient
from litestar import Controller, Litestar, Response, delete, get, post
from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler
from litestar.params import FromPath, JSONBody, QueryParameter

from atriz_core.client import PUBLIC, CurrentUser, Principal, requires_role
from atriz_core.errors import ConflictError, ForbiddenError, NotFoundError
from atriz_core.kit.openapi import problem_responses
from atriz_core.kit.service import create_service
from atriz_core.testing import (
    CoreHarness,
    DatabaseFactory,
    TokenMinter,
    UserFactory,
    assert_authorization_matrix,
    assert_every_route_rejects_bad_tokens,
    fuzz_openapi,
    make_actors,
    protected_routes,
    running_app,
)
from atriz_database import DatabaseTarget
from atriz_database.errors import MigrationError
from atriz_database.migrations import status
from atriz_database.testing import sample_target, write_migration

AUDIENCE = "pshop"


# A small app, the shape of the real ones: notes that belong to the user who wrote them.


class NoteCreate(msgspec.Struct, forbid_unknown_fields=True):
    text: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]


class Note(msgspec.Struct):
    id: uuid.UUID
    owner: uuid.UUID
    text: str


NOTES: dict[uuid.UUID, Note] = {}


def own_note(note_id: uuid.UUID, user: Principal) -> Note:
    note = NOTES.get(note_id)
    if note is None:
        raise NotFoundError(f"no note {note_id}")
    if note.owner != user.id:
        raise ForbiddenError("not your note")
    return note


class NoteController(Controller):
    path = "/notes"

    @get("/")
    async def list_notes(
        self, current_user: CurrentUser, limit: Annotated[int, QueryParameter(ge=1, le=50)] = 10
    ) -> list[Note]:
        """The caller's notes."""
        return [n for n in NOTES.values() if n.owner == current_user.id][:limit]

    @post("/", guards=[requires_role("pshop.manager")], responses=problem_responses(409))
    async def create_note(self, data: JSONBody[NoteCreate], current_user: CurrentUser) -> Note:
        """Write a note (managers only); the same text twice is a conflict."""
        if any(n.owner == current_user.id and n.text == data.text for n in NOTES.values()):
            raise ConflictError("you have written this note already")
        note = Note(uuid.uuid4(), current_user.id, data.text)
        NOTES[note.id] = note
        return note

    @get("/{note_id:uuid}")
    async def read_note(self, note_id: FromPath[uuid.UUID], current_user: CurrentUser) -> Note:
        """One note, for its owner."""
        return own_note(note_id, current_user)

    @delete("/{note_id:uuid}")
    async def delete_note(self, note_id: FromPath[uuid.UUID], current_user: CurrentUser) -> None:
        """Delete a note of one's own."""
        del NOTES[own_note(note_id, current_user).id]

    @get("/by-number/{number:int}")
    async def note_by_number(self, number: FromPath[int]) -> dict[str, int]:
        """A note's number (any signed-in user)."""
        return {"number": number}


class AboutController(Controller):
    path = "/about"
    opt = PUBLIC

    @get("/")
    async def about(self) -> dict[str, str]:
        """What this service is (public, by its controller)."""
        return {"name": "notes"}


@get("/terms", opt=PUBLIC)
async def terms() -> str:
    """Public, by its handler."""
    return "be nice"


def notes_app(
    minter: TokenMinter,
    *extra: Any,
    database_url: str = "postgresql://localhost/not_started",
    require_sign_in: bool = True,
) -> Litestar:
    """The notes app, built by the kit as every app is."""
    return create_service(
        name="notes",
        route_handlers=[NoteController, AboutController, terms, *extra],
        verifier=minter.verifier(AUDIENCE),
        database_url=database_url,
        require_sign_in=require_sign_in,
    )


def notes_target(root: Path, requires: str = "20261123_210000_create_identity") -> DatabaseTarget:
    """The notes app's database target: one migration that needs core's identity tables."""
    target = sample_target(root, name="notes", depends_on=("core",))
    write_migration(
        target,
        "0001_create_notes",
        f"-- requires: core {requires}\n"
        "CREATE TABLE notes (id uuid PRIMARY KEY, user_id uuid NOT NULL, text text NOT NULL);",
        "DROP TABLE notes;",
    )
    return target


@pytest.fixture
async def notes(
    token_minter: TokenMinter, migrated_database: DatabaseFactory, tmp_path: Path
) -> AsyncIterator[AsyncClient]:
    NOTES.clear()
    database = migrated_database(notes_target(tmp_path / "notes"))
    async with running_app(notes_app(token_minter, database_url=database.url)) as client:
        yield client


# migrated_database


def test_migrated_database_builds_core_by_its_migrations(
    migrated_database: DatabaseFactory, core_database_url: str
) -> None:
    core = migrated_database("core")

    assert core.core_url == core.url != core_database_url  # a fresh one, not the test's shared
    assert status(core.target, core.url).pending == []
    assert len(core.applied) == len(list(core.target.migrations.glob("*[0-9a-z].sql"))) - len(
        list(core.target.migrations.glob("*.rollback.sql"))
    )
    with psycopg.connect(core.url) as connection:
        tables = {
            row[0]
            for row in connection.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
            ).fetchall()
        }
        roles = {row[0] for row in connection.execute("SELECT name FROM roles").fetchall()}
    assert {"users", "roles", "user_roles", "auth_tokens", "user_events"} <= tables
    assert "moderator" not in roles  # a fresh database is not seeded unless asked
    with psycopg.connect(core_database_url) as connection:
        # The test's shared atriz_shared is not seeded either: no development users in tests.
        assert not connection.execute("SELECT 1 FROM roles WHERE name = 'moderator'").fetchone()
        assert not connection.execute("SELECT 1 FROM users").fetchone()


def test_migrated_database_checks_an_app_against_the_tests_core(
    migrated_database: DatabaseFactory, core_database_url: str, tmp_path: Path
) -> None:
    target = notes_target(tmp_path / "notes")

    app = migrated_database(target)

    assert app.applied == ("0001_create_notes",)
    assert app.core_url == core_database_url
    assert app.dependencies == {"core": core_database_url}
    with psycopg.connect(app.url) as connection:
        assert connection.execute("SELECT to_regclass('notes') IS NOT NULL").fetchone() == (True,)


def test_migrated_database_refuses_an_unmet_requirement(
    migrated_database: DatabaseFactory, tmp_path: Path
) -> None:
    target = notes_target(tmp_path / "notes", requires="29990101_000000_not_written_yet")

    with pytest.raises(MigrationError, match="requires core migration 29990101_000000"):
        migrated_database(target)


# make_user


async def test_make_user_creates_a_real_user_with_a_token_the_app_trusts(
    make_user: UserFactory, token_minter: TokenMinter, core_harness: CoreHarness
) -> None:
    cashier = await make_user(roles=("pshop.cashier", "notes.reader"), email="cash@example.test")

    principal = await token_minter.verifier(AUDIENCE).verify(cashier.token)
    stored = await core_harness.sql_rows(
        "SELECT r.name FROM users u JOIN user_roles ur ON ur.user_id = u.id"
        " JOIN roles r ON r.id = ur.role_id WHERE u.email = $1 ORDER BY r.name",
        "cash@example.test",
    )
    me = await core_harness.client.get("/auth/me", headers=cashier.headers)
    login = await core_harness.client.post(
        "/auth/login", json={"email": cashier.email, "password": cashier.password}
    )

    assert principal.id == cashier.id
    assert principal.roles == {"notes.reader", "pshop.cashier", "user"}
    assert [row["name"] for row in stored] == ["notes.reader", "pshop.cashier", "user"]
    assert jwt.get_unverified_header(cashier.token)["typ"] == "at+jwt"
    assert me.status_code == 200, me.text  # core signs with the same key, and knows the user
    assert me.json()["roles"] == ["notes.reader", "pshop.cashier", "user"]
    assert login.status_code == 200  # a real argon2id hash of the password


# protected_routes and assert_every_route_rejects_bad_tokens


def test_protected_routes_are_every_route_but_the_public_ones(token_minter: TokenMinter) -> None:
    routes = protected_routes(notes_app(token_minter))

    assert [(r.method, r.path) for r in routes] == [
        ("GET", "/notes"),
        ("POST", "/notes"),
        ("GET", "/notes/by-number/{number}"),
        ("DELETE", "/notes/{note_id}"),
        ("GET", "/notes/{note_id}"),
    ]
    by_path = {r.path: r.url for r in routes}
    assert by_path["/notes/by-number/{number}"] == "/notes/by-number/1"
    assert uuid.UUID(by_path["/notes/{note_id}"].rsplit("/", 1)[1])


async def test_every_route_refuses_bad_tokens(
    notes: AsyncClient, token_minter: TokenMinter
) -> None:
    checked = await assert_every_route_rejects_bad_tokens(
        notes, notes_app(token_minter), token_minter, AUDIENCE
    )

    assert len(checked) == 5


async def lets_anyone_in(_: ASGIConnection[Any, Any, Any, Any], __: BaseRouteHandler) -> None:
    """A guard that forgets to check the token."""


@get("/leaky", guards=[lets_anyone_in])
async def leaky() -> dict[str, str]:
    """Behind a guard, but the guard lets everyone through."""
    return {"secret": "yes"}


async def test_a_route_that_lets_bad_tokens_through_is_reported(
    token_minter: TokenMinter, core_database_url: str
) -> None:
    # Core's way: sign-in not required everywhere, so only guarded routes count as protected.
    app = notes_app(token_minter, leaky, database_url=core_database_url, require_sign_in=False)

    assert [str(r) for r in protected_routes(app)] == ["GET /leaky", "POST /notes"]
    async with running_app(app) as client:
        with pytest.raises(AssertionError) as failure:
            await assert_every_route_rejects_bad_tokens(client, app, token_minter, AUDIENCE)

    report = str(failure.value)
    assert "GET /leaky: no token: 200" in report
    assert "GET /leaky: expired: 200" in report
    assert "POST /notes" not in report


# the authorization matrix


async def test_the_matrix_reports_every_mismatch_at_once(
    notes: AsyncClient, make_user: UserFactory
) -> None:
    actors = await make_actors(make_user, roles=("pshop.manager",))
    owner = actors["owner"]
    assert owner is not None
    note = Note(uuid.uuid4(), owner.id, "mine")
    NOTES[note.id] = note

    with pytest.raises(AssertionError) as failure:
        await assert_authorization_matrix(
            notes,
            "GET",
            f"/notes/{note.id}",
            {"anonymous": 401, "owner": 200, "other_user": 200, "pshop.manager": 404},
            actors,
        )

    report = str(failure.value)
    assert "2 of 4 actors got another status" in report
    assert "other_user: expected 200, got 403" in report
    assert "pshop.manager: expected 404, got 403" in report
    assert "owner:" not in report
    assert "anonymous:" not in report


async def test_the_matrix_passes_and_makes_a_fresh_resource_per_actor(
    notes: AsyncClient, make_user: UserFactory
) -> None:
    actors = await make_actors(make_user, roles=("pshop.manager",))
    owner = actors["owner"]
    assert owner is not None

    async def fresh_note() -> str:
        note = Note(uuid.uuid4(), owner.id, "mine")
        NOTES[note.id] = note
        return f"/notes/{note.id}"

    await assert_authorization_matrix(
        notes,
        "DELETE",
        fresh_note,
        {"anonymous": 401, "other_user": 403, "pshop.manager": 403, "owner": 204},
        actors,
    )
    await assert_authorization_matrix(
        notes,
        "POST",
        "/notes",
        {"anonymous": 401, "owner": 403, "pshop.manager": 201},
        actors,
        json={"text": "hello"},
    )


# schema fuzzing


async def test_fuzzing_passes_a_conforming_app(notes: AsyncClient, make_user: UserFactory) -> None:
    manager = await make_user(roles=("pshop.manager",))

    report = await fuzz_openapi(notes, headers=manager.headers, max_examples=10)

    report.assert_ok()
    assert {"POST /notes", "GET /notes/{note_id}"} <= set(report.operations)
    assert report.requests > 5 * len(report.operations)


class Order(msgspec.Struct, forbid_unknown_fields=True):
    quantity: Annotated[int, msgspec.Meta(ge=0)]


@post("/orders", status_code=201)
async def place_order(data: JSONBody[Order]) -> dict[str, int]:
    """Breaks on every valid order: a server error the schema cannot excuse. (On odd
    quantities only, ten examples sometimes held none, and the test failed now and then.)"""
    raise RuntimeError(f"the warehouse is closed: {data.quantity} not placed")


@get("/teapot")
async def teapot() -> Response[dict[str, str]]:
    """Answers a status it does not document, with a body that breaks its documented schema."""
    return Response({"tea": "earl grey"}, status_code=418)


@get("/count")
async def count() -> dict[str, int]:
    """Documents an integer, sends a string."""
    return {"count": "many"}  # type: ignore[dict-item]


async def test_fuzzing_lists_every_kind_of_failure_at_once(
    token_minter: TokenMinter, make_user: UserFactory, core_database_url: str
) -> None:
    user = await make_user()
    app = notes_app(token_minter, place_order, teapot, count, database_url=core_database_url)

    async with running_app(app) as client:
        report = await fuzz_openapi(client, headers=user.headers, max_examples=10)

    found = {(f.operation, f.check, f.status) for f in report.failures}
    assert ("POST /orders", "Server error", 500) in found
    assert ("GET /teapot", "Undocumented status code", 418) in found
    assert ("GET /count", "Response violates schema", 200) in found
    with pytest.raises(AssertionError, match=r"schema fuzzing: \d+ failure"):
        report.assert_ok()
