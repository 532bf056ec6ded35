"""The example app, built with the kit alone, tested with the test kit alone: sign-in and roles,
bad tokens on every route, the authorization matrix, fuzzing, exactly-once user events across a
crash, revocation within seconds, metrics, and the request id."""

from __future__ import annotations

import functools
import uuid
from typing import Any

import asyncpg
import pytest
from httpx import ASGITransport, AsyncClient
from prometheus_client.parser import text_string_to_metric_families

from atriz_core.client.user_events import UserEvent
from atriz_core.kit.events import CONSUMERS_STATE_KEY
from atriz_core.kit.service import app_service
from atriz_core.kit.settings import AppSettings
from atriz_core.settings import CoreSettings
from atriz_core.testing import (
    DatabaseFactory,
    TokenMinter,
    UserFactory,
    app_databases,
    assert_authorization_matrix,
    assert_every_route_rejects_bad_tokens,
    assert_openapi_fuzzing_passes,
    beside,
    eventually,
    make_actors,
    running_core,
    serving,
)
from atriz_database import DatabaseSettings
from atriz_database.pgbouncer import PgBouncer
from atriz_database.testing import PGBOUNCER, DatabaseRoute

SERVICE, MODERATOR = "notes", "notes.moderator"
RunningNotes = Any  # the `notes` fixture's value (conftest.RunningNotes)


until = functools.partial(eventually, seconds=5.0)


async def test_routes_need_a_token_and_moderator_routes_the_role(
    notes: RunningNotes, make_user: UserFactory
) -> None:
    user, moderator = await make_user(), await make_user(roles=(MODERATOR,))

    anonymous = await notes.client.get("/notes")
    mine = await notes.client.get("/notes", headers=user.headers)
    counted_by_user = await notes.client.get("/notes/count", headers=user.headers)
    counted = await notes.client.get("/notes/count", headers=moderator.headers)

    assert anonymous.status_code == 401
    assert anonymous.headers["content-type"].startswith("application/problem+json")
    assert mine.json() == {"items": [], "next_cursor": None}
    assert counted_by_user.status_code == 403
    assert counted.json() == {"notes": 0}


@pytest.mark.pgbouncer
async def test_writes_list_a_page_at_a_time_and_refuse_bad_input(
    notes: RunningNotes, make_user: UserFactory
) -> None:
    user = await make_user()
    for n in range(3):
        created = await notes.client.post("/notes", json={"body": f"n{n}"}, headers=user.headers)
        assert created.status_code == 201, created.text

    first = (await notes.client.get("/notes?limit=2", headers=user.headers)).json()
    second = await notes.client.get(
        "/notes", params={"limit": 2, "cursor": first["next_cursor"]}, headers=user.headers
    )
    tampered = await notes.client.get(
        "/notes", params={"cursor": first["next_cursor"][:-2] + "AA"}, headers=user.headers
    )
    too_many = await notes.client.get("/notes?limit=5000", headers=user.headers)
    empty = await notes.client.post("/notes", json={"body": ""}, headers=user.headers)

    assert [n["body"] for n in first["items"]] == ["n0", "n1"]
    assert [n["body"] for n in second.json()["items"]] == ["n2"]
    assert second.json()["next_cursor"] is None
    for response, field in ((tampered, "cursor"), (too_many, "limit"), (empty, "body")):
        assert response.status_code == 400
        assert response.json()["errors"][0]["field"] == field
    assert await notes.sql("SELECT count(*) FROM notes") == 3, "the bad write left nothing"


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        pytest.param(b'{"body": "\xff"}', "it is not UTF-8", id="not-utf8"),
        pytest.param(b'{"\xff": "x"}', "it is not UTF-8", id="not-utf8-key"),
        pytest.param(
            b'{"body": ' + b"[" * 5000 + b"]" * 5000 + b"}",
            "it is nested too deeply",
            id="nested-too-deeply",
        ),
    ],
)
async def test_a_body_msgspec_cannot_decode_is_a_400_naming_the_body(
    notes: RunningNotes, make_user: UserFactory, body: bytes, reason: str
) -> None:
    """msgspec refuses these with UnicodeDecodeError and RecursionError, not its DecodeError;
    the kit answers them as malformed JSON, not with a 500."""
    user = await make_user()

    response = await notes.client.post(
        "/notes", content=body, headers={**user.headers, "Content-Type": "application/json"}
    )

    assert response.status_code == 400, response.text
    assert response.json()["errors"] == [
        {"field": "body", "reason": f"is not valid JSON: {reason}"}
    ]
    assert await notes.sql("SELECT count(*) FROM notes") == 0


async def test_a_note_for_a_user_who_does_not_exist_is_refused(
    notes: RunningNotes, make_user: UserFactory
) -> None:
    moderator = await make_user(roles=(MODERATOR,))

    response = await notes.client.post(
        "/notes", json={"body": "hi", "owner_id": str(uuid.uuid4())}, headers=moderator.headers
    )

    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "owner_id"
    assert await notes.sql("SELECT count(*) FROM notes") == 0


async def test_every_protected_route_refuses_bad_tokens(
    notes: RunningNotes, token_minter: TokenMinter
) -> None:
    routes = await assert_every_route_rejects_bad_tokens(
        notes.client, notes.app, token_minter, SERVICE
    )

    assert {str(route).split()[-1] for route in routes} >= {"/notes", "/notes/count"}


async def test_the_authorization_matrix(notes: RunningNotes, make_user: UserFactory) -> None:
    actors = await make_actors(make_user, roles=(MODERATOR,))
    owner = actors["owner"]
    assert owner is not None
    created = await notes.client.post("/notes", json={"body": "mine"}, headers=owner.headers)
    path = f"/notes/{created.json()['id']}"

    await assert_authorization_matrix(
        notes.client,
        "GET",
        path,
        {"anonymous": 401, "owner": 200, "other_user": 404, MODERATOR: 200},
        actors,
    )
    await assert_authorization_matrix(
        notes.client,
        "POST",
        "/notes",
        {"anonymous": 401, "owner": 201, "other_user": 403, MODERATOR: 201},
        actors,
        json={"body": "for the owner", "owner_id": str(owner.id)},
    )


@pytest.mark.slow
async def test_the_openapi_passes_fuzzing_with_a_real_token(
    notes: RunningNotes, make_user: UserFactory
) -> None:
    moderator = await make_user(roles=(MODERATOR,))

    await assert_openapi_fuzzing_passes(notes.client, headers=moderator.headers, max_examples=15)


@pytest.mark.pgbouncer
async def test_a_deletion_is_applied_once_across_a_crash_before_the_commit(
    example: Any,
    notes_settings: AppSettings,
    token_minter: TokenMinter,
    make_user: UserFactory,
    core_settings: CoreSettings,
) -> None:
    runs: list[uuid.UUID] = []

    async def crashing_once(conn: asyncpg.Connection, event: UserEvent) -> None:
        await example.apply_user_event(conn, event)
        runs.append(event.user_id)
        if len(runs) == 1:  # the process dies after the handler, before the commit
            raise RuntimeError("simulated crash between the handler and the commit")

    app = app_service(
        notes_settings,
        route_handlers=[example.controller],
        user_events=crashing_once,
        verifier=token_minter.verifier(SERVICE),
    )
    async with (
        serving(app),
        AsyncClient(transport=ASGITransport(app=app), base_url="http://notes.test") as client,  # type: ignore[arg-type]
        running_core(core_settings) as core,
    ):
        doomed, kept = await make_user(), await make_user()
        for user in (doomed, kept):
            await client.post("/notes", json={"body": "x"}, headers=user.headers)

        admin = await core.admin_headers()
        deleted = await core.client.delete(f"/admin/users/{doomed.id}", headers=admin)
        assert deleted.status_code == 204

        consumer = app.state[CONSUMERS_STATE_KEY][SERVICE]
        await until(lambda: consumer.applied >= 1, seconds=15)

        async def owners() -> list[uuid.UUID]:
            connection = await beside(notes_settings.database_url)
            try:
                rows = await connection.fetch("SELECT owner_id FROM notes")
            finally:
                await connection.close()
            return [row["owner_id"] for row in rows]

    assert runs == [doomed.id, doomed.id], "rolled back once, then applied once"
    assert await owners() == [kept.id]
    assert consumer.failures >= 1


@pytest.mark.pgbouncer
async def test_a_revoked_user_is_refused_within_five_seconds(
    notes: RunningNotes, make_user: UserFactory, core_settings: CoreSettings
) -> None:
    user = await make_user()
    assert (await notes.client.get("/notes", headers=user.headers)).status_code == 200

    async with running_core(core_settings) as core:
        admin = await core.admin_headers()
        response = await core.client.post(f"/admin/users/{user.id}/deactivate", headers=admin)
        assert response.status_code == 204

        async def refused() -> bool:
            answer = await notes.client.get("/notes", headers=user.headers)
            return answer.status_code == 401

        took = await until(refused, seconds=5)

    assert took < 5


async def test_metrics_parse_and_count_requests_by_route(
    notes: RunningNotes, make_user: UserFactory
) -> None:
    user = await make_user()

    async def served(route: str) -> float:
        text = (await notes.client.get("/metrics")).text
        return sum(
            sample.value
            for family in text_string_to_metric_families(text)
            for sample in family.samples
            if sample.name == "atriz_requests_total" and sample.labels.get("path") == route
        )

    before = await served("/notes/{note_id}")
    for _ in range(3):
        await notes.client.get(f"/notes/{uuid.uuid4()}", headers=user.headers)

    assert await served("/notes/{note_id}") == before + 3
    text = (await notes.client.get("/metrics")).text
    names = {family.name for family in text_string_to_metric_families(text)}
    assert {"atriz_db_pool_size", "atriz_consumer_lag_seconds"} <= names


async def test_the_request_id_is_in_the_header_the_error_body_and_the_log(
    notes: RunningNotes, capfd: pytest.CaptureFixture[str]
) -> None:
    response = await notes.client.get("/notes", headers={"X-Request-ID": "trace-42"})

    assert response.status_code == 401
    assert response.headers["x-request-id"] == "trace-42"
    assert response.json()["request_id"] == "trace-42"
    logged = [line for line in capfd.readouterr().err.splitlines() if "trace-42" in line]
    assert logged, "no log line carries the request id"


@pytest.mark.parametrize("direct", [True, False], ids=["listening straight", "polling"])
async def test_through_pgbouncer_user_events_are_listened_for_straight_or_polled(
    direct: bool,
    example: Any,
    migrated_database: DatabaseFactory,
    pgbouncer: PgBouncer,
    token_minter: TokenMinter,
    make_user: UserFactory,
    core_settings: CoreSettings,
) -> None:
    # LISTEN cannot go through PgBouncer's transaction mode: the app listens on a connection
    # of its own straight to PostgreSQL (`<PREFIX>_SHARED_DIRECT_URL`), or without one polls.
    own = migrated_database(example.target)
    databases = app_databases(
        DatabaseRoute(PGBOUNCER, pgbouncer), own, DatabaseSettings(pool_max_size=5)
    )
    if not direct:
        databases["shared_direct_url"] = None
    settings = AppSettings(
        service=SERVICE, port=8009, cursor_secret=b"example app cursor secret, 32 b.", **databases
    )
    app = app_service(
        settings, route_handlers=[example.controller], verifier=token_minter.verifier(SERVICE)
    )
    user = await make_user()
    async with (
        serving(app),
        AsyncClient(transport=ASGITransport(app=app), base_url="http://notes.test") as client,  # type: ignore[arg-type]
        running_core(core_settings) as core,
    ):
        assert app.state.shared_pool.pooled
        listener = app.state.get("user_event_listener")
        if direct:
            await until(lambda: listener.connected)
            assert listener.pool is app.state.listen_pool
            assert not listener.pool.pooled
        else:
            assert listener is None
            assert "listen_pool" not in app.state
        assert (await client.get("/notes", headers=user.headers)).status_code == 200

        admin = await core.admin_headers()
        response = await core.client.post(f"/admin/users/{user.id}/deactivate", headers=admin)
        assert response.status_code == 204

        async def refused() -> bool:
            return (await client.get("/notes", headers=user.headers)).status_code == 401

        await until(refused, seconds=5)
