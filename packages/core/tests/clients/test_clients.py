"""Registered clients: the admin API and the `atriz clients` command, exact redirect URIs,
secrets shown once and rotated, removal ending the client's sessions."""

from __future__ import annotations

import secrets
from typing import Any

import msgspec
import pytest

from atriz_core.clients.schemas import ClientCreate
from atriz_core.clients.services import register_client
from atriz_core.errors import InvalidInputError
from atriz_core.testing import (
    CoreHarness,
    UserFactory,
    assert_authorization_matrix,
    make_actors,
)
from atriz_database.pool import connect

NEW_CLIENT = {
    "id": "notes",
    "name": "Notes",
    "redirect_uris": ["https://notes.example.test/auth/callback"],
    "post_logout_redirect_uris": ["https://notes.example.test/"],
    "first_party": True,
}


async def test_an_administrator_registers_shows_rotates_and_removes_a_client(
    core_harness: CoreHarness,
) -> None:
    admin = await core_harness.admin_headers()
    client = core_harness.client

    created = await client.post("/admin/clients", json=NEW_CLIENT, headers=admin)
    listed = await client.get("/admin/clients", headers=admin)
    shown = await client.get("/admin/clients/notes", headers=admin)
    rotated = await client.post("/admin/clients/notes/secret", headers=admin)
    duplicate = await client.post("/admin/clients", json=NEW_CLIENT, headers=admin)
    removed = await client.delete("/admin/clients/notes", headers=admin)
    gone = await client.get("/admin/clients/notes", headers=admin)

    assert created.status_code == 201, created.text
    secret = created.json()["client_secret"]
    assert len(secret) >= 43
    assert created.json()["public"] is False
    assert [c["id"] for c in listed.json()] == ["notes"]
    assert "client_secret" not in shown.json()
    assert shown.json()["redirect_uris"] == NEW_CLIENT["redirect_uris"]
    assert rotated.status_code == 200
    assert rotated.json()["client_secret"] not in (None, secret)
    assert duplicate.status_code == 409
    assert removed.status_code == 204
    assert gone.status_code == 404
    stored = await core_harness.sql_value(
        "SELECT count(*) FROM auth_events WHERE event_type LIKE 'client_%'"
    )
    assert stored == 3


@pytest.mark.parametrize(
    ("uri", "reason"),
    [
        ("http://notes.example.test/cb", "plain http only on a loopback address"),
        ("https://notes.example.test/cb#top", "must not have a fragment"),
        ("https://*.example.test/cb", "wildcard"),
        ("notes.example.test/cb", "not an absolute http(s) URI"),
        ("javascript:alert(1)", "not an absolute http(s) URI"),
    ],
)
async def test_redirect_uris_are_exact_and_safe(
    core_harness: CoreHarness, uri: str, reason: str
) -> None:
    admin = await core_harness.admin_headers()

    response = await core_harness.client.post(
        "/admin/clients", json={**NEW_CLIENT, "redirect_uris": [uri]}, headers=admin
    )

    assert response.status_code == 422
    (problem,) = response.json()["errors"]
    assert problem["field"] == "redirect_uris[0]"
    assert reason in problem["reason"]


async def test_a_loopback_http_redirect_uri_is_accepted_for_development(
    core_harness: CoreHarness,
) -> None:
    admin = await core_harness.admin_headers()
    body = {**NEW_CLIENT, "redirect_uris": ["http://127.0.0.1:8001/auth/callback"]}

    response = await core_harness.client.post("/admin/clients", json=body, headers=admin)

    assert response.status_code == 201, response.text


async def test_only_administrators_manage_clients(
    core_harness: CoreHarness, make_user: UserFactory
) -> None:
    actors = await make_actors(make_user, roles=("admin",))

    await assert_authorization_matrix(
        core_harness.client,
        "GET",
        "/admin/clients",
        {"anonymous": 401, "owner": 403, "other_user": 403, "admin": 200},
        actors,
    )


async def test_a_rotated_secret_replaces_the_old_one_at_the_token_endpoint(
    core_harness: CoreHarness,
) -> None:
    admin = await core_harness.admin_headers()
    old = (await core_harness.client.post("/admin/clients", json=NEW_CLIENT, headers=admin)).json()
    new = (await core_harness.client.post("/admin/clients/notes/secret", headers=admin)).json()

    async def token_call(secret: str) -> Any:
        return await core_harness.client.post(
            "/oauth/token",
            data={"grant_type": "refresh_token", "refresh_token": "x" * 43},
            auth=("notes", secret),
        )

    assert (await token_call(old["client_secret"])).json()["error"] == "invalid_client"
    # The new secret authenticates: the refusal is then about the refresh token.
    assert (await token_call(new["client_secret"])).json()["error"] == "invalid_grant"


async def test_a_client_registered_with_a_secret_the_operator_generated_authenticates_with_it(
    core_harness: CoreHarness,
) -> None:
    """`atriz clients add --secret-stdin`: a deployment sets every secret before anything runs
    (Docker Compose refuses to run any command while one is missing), so core takes the app's
    secret rather than making one; a short one, or one for a public client, is refused."""
    chosen = secrets.token_urlsafe(32)
    data = msgspec.convert(NEW_CLIENT, ClientCreate)
    connection = await connect(core_harness.settings.database_url)  # as the command does
    try:
        _, returned = await register_client(connection, data, secret=chosen)
        for refused, fields in (("x" * 42, {}), (chosen, {"id": "other", "public": True})):
            other = msgspec.convert({**NEW_CLIENT, "id": "other", **fields}, ClientCreate)
            with pytest.raises(InvalidInputError) as failure:
                await register_client(connection, other, secret=refused)
            assert failure.value.problems[0].field == "secret"
    finally:
        await connection.close()

    assert returned == chosen
    answer = await core_harness.client.post(
        "/oauth/token",
        data={"grant_type": "refresh_token", "refresh_token": "x" * 43},
        auth=("notes", chosen),
    )
    assert answer.json()["error"] == "invalid_grant"  # authenticated: refused for the token
