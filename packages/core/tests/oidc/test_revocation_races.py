"""Token minting beside changes that revoke: a code exchanged beside a role change waits for the
change's lock on the user and reads the roles after it commits; a client removed beside a
refresh stamps its event after the refresh; a client removal or "log out everywhere" beside a
code exchange ends the session the exchange opens; an exchange that finds its client removed
while it waited is refused as such, not taken for a replayed code."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import jwt

from atriz_core.testing import CoreHarness
from atriz_database.pool import connect

from .conftest import (
    LOGOUT_URI,
    RegisteredClient,
    authorize_params,
    code_for,
    exchange,
    pkce,
    register_client,
)

ROLE = "pshop.cashier"


async def test_an_exchange_beside_a_role_change_reads_the_roles_after_it(
    core_harness: CoreHarness, user: dict[str, Any], webapp: RegisteredClient
) -> None:
    user_id = uuid.UUID(user["id"])
    admin = await core_harness.admin_headers()
    granted = await core_harness.client.post(
        f"/admin/users/{user_id}/roles", json={"role": ROLE}, headers=admin
    )
    assert granted.status_code == 204, granted.text
    admin_id = await core_harness.sql_value(
        "SELECT id FROM users WHERE email = 'root@example.test'"
    )
    verifier, challenge = pkce()
    code = await code_for(core_harness, authorize_params(webapp, challenge))

    async with core_harness.role_removal_held_open(user_id, ROLE, admin_id=admin_id):
        core_harness.clock.advance(5)  # the exchange reads its clock after the change's stamp
        exchanging = asyncio.create_task(exchange(core_harness, webapp, code, verifier))
        await core_harness.until_a_statement_waits_on_a_lock()
    response = await exchanging

    assert response.status_code == 200, response.text
    claims = jwt.decode(response.json()["access_token"], options={"verify_signature": False})
    assert claims["roles"] == ["user"]
    assert not await core_harness.apps_refuse(response.json()["access_token"])


async def test_removing_a_client_stamps_its_event_after_waiting_for_a_refresh(
    core_harness: CoreHarness, user: dict[str, Any], webapp: RegisteredClient
) -> None:
    """The removal's `sessions_revoked` is stamped once it holds the client's sessions: a refresh
    holding one meanwhile issues its access token after the removal began, and the apps must
    refuse that token too."""
    verifier, challenge = pkce()
    code = await code_for(core_harness, authorize_params(webapp, challenge))
    assert (await exchange(core_harness, webapp, code, verifier)).status_code == 200
    admin = await core_harness.admin_headers()
    holder = await connect(core_harness.settings.database_url)
    try:
        async with holder.transaction():  # a refresh of the client's session, in flight
            await holder.execute("SELECT FROM sessions WHERE client_id = $1 FOR UPDATE", webapp.id)
            removing = asyncio.create_task(
                core_harness.client.delete(f"/admin/clients/{webapp.id}", headers=admin)
            )
            await core_harness.until_a_statement_waits_on_a_lock()
            core_harness.clock.advance(5)  # the refresh's token is issued now
            refresh_issued_at = core_harness.clock.now()
    finally:
        await holder.close()
    removed = await removing

    assert removed.status_code == 204, removed.text
    stamped = await core_harness.sql_value(
        "SELECT created_at FROM user_events WHERE user_id = $1::uuid"
        " AND event_type = 'sessions_revoked'",
        user["id"],
    )
    assert stamped >= refresh_issued_at


async def race_an_exchange(
    core: CoreHarness,
    user: dict[str, Any],
    client: RegisteredClient,
    revoke: Callable[[], Awaitable[httpx.Response]],
) -> tuple[httpx.Response, httpx.Response]:
    """A code exchange held just before it opens its session (a connection of the test holds
    the browser session's row, which the exchange locks last), `revoke` sent meanwhile and shown
    waiting too, then both let go: (the revocation's answer, the exchange's)."""
    verifier, challenge = pkce()
    code = await code_for(core, authorize_params(client, challenge))
    holder = await connect(core.settings.database_url)
    try:
        async with holder.transaction():
            await holder.execute(
                "SELECT FROM sessions WHERE user_id = $1::uuid AND client_id IS NULL FOR UPDATE",
                user["id"],
            )
            exchanging = asyncio.create_task(exchange(core, client, code, verifier))
            await core.until_a_statement_waits_on_a_lock()
            revoking = asyncio.create_task(revoke())
            await core.until_a_statement_waits_on_a_lock(count=2)
    finally:
        await holder.close()
    return await revoking, await exchanging


async def assert_what_the_exchange_gave_is_dead(
    core: CoreHarness, client: RegisteredClient, exchanged: httpx.Response
) -> None:
    """The exchange succeeded, but its refresh token no longer works and the apps refuse its
    access token."""
    assert exchanged.status_code == 200, exchanged.text
    tokens = exchanged.json()
    refreshed = await core.client.post(
        "/oauth/token",
        data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
        auth=client.auth,
    )
    # invalid_grant (400), or invalid_client (401) once the client is gone
    assert refreshed.status_code in (400, 401), refreshed.text
    assert await core.apps_refuse(tokens["access_token"])


async def test_removing_a_client_ends_the_session_an_exchange_opens_beside_it(
    core_harness: CoreHarness, user: dict[str, Any], webapp: RegisteredClient
) -> None:
    admin = await core_harness.admin_headers()
    # The removal waits for the exchange, which holds the client.
    removed, exchanged = await race_an_exchange(
        core_harness,
        user,
        webapp,
        lambda: core_harness.client.delete(f"/admin/clients/{webapp.id}", headers=admin),
    )

    assert removed.status_code == 204, removed.text
    await assert_what_the_exchange_gave_is_dead(core_harness, webapp, exchanged)


async def test_logout_everywhere_ends_the_session_an_exchange_opens_beside_it(
    core_harness: CoreHarness, user: dict[str, Any], webapp: RegisteredClient
) -> None:
    """A thief with the browser's cookie racing "log out everywhere" with a code exchange."""
    signed_in = await core_harness.login()
    logged_out, exchanged = await race_an_exchange(
        core_harness,
        user,
        webapp,
        lambda: core_harness.client.post(
            "/auth/logout-all", headers=core_harness.bearer(signed_in)
        ),
    )

    assert logged_out.status_code == 204, logged_out.text
    await assert_what_the_exchange_gave_is_dead(core_harness, webapp, exchanged)


async def test_signing_out_at_core_ends_the_session_an_exchange_opens_beside_it(
    core_harness: CoreHarness, user: dict[str, Any], webapp: RegisteredClient
) -> None:
    verifier, challenge = pkce()
    code = await code_for(core_harness, authorize_params(webapp, challenge))
    first = (await exchange(core_harness, webapp, code, verifier)).json()
    signed_out, exchanged = await race_an_exchange(
        core_harness,
        user,
        webapp,
        lambda: core_harness.client.get(
            "/oauth/logout",
            params={"id_token_hint": first["id_token"], "post_logout_redirect_uri": LOGOUT_URI},
        ),
    )

    assert signed_out.status_code == 303, signed_out.text
    await assert_what_the_exchange_gave_is_dead(core_harness, webapp, exchanged)


async def test_an_exchange_that_finds_its_client_removed_meanwhile_is_refused_as_such(
    core_harness: CoreHarness, user: dict[str, Any], webapp: RegisteredClient
) -> None:
    """The exchange has checked the client and the code, then waits for the user's row (held
    here, as a role change would); the client is removed meanwhile, its codes with it. The
    exchange must say the client is gone: taking the vanished code for one spent before would
    end the user's sign-in at core as if the code had been stolen."""
    admin = await core_harness.admin_headers()
    verifier, challenge = pkce()
    code = await code_for(core_harness, authorize_params(webapp, challenge))
    holder = await connect(core_harness.settings.database_url)
    try:
        async with holder.transaction():
            await holder.execute("SELECT FROM users WHERE id = $1::uuid FOR UPDATE", user["id"])
            exchanging = asyncio.create_task(exchange(core_harness, webapp, code, verifier))
            await core_harness.until_a_statement_waits_on_a_lock()
            removed = await core_harness.client.delete(f"/admin/clients/{webapp.id}", headers=admin)
            assert removed.status_code == 204, removed.text  # while the exchange waits
            assert not exchanging.done()
    finally:
        await holder.close()
    exchanged = await exchanging

    assert exchanged.status_code == 400, exchanged.text
    assert exchanged.json() == {
        "error": "invalid_grant",
        "error_description": "the client has been removed",
    }
    assert not await core_harness.sql_value(
        "SELECT count(*) FROM sessions WHERE user_id = $1::uuid AND client_id IS NOT NULL",
        user["id"],
    )
    # Still signed in at core: another app's authorization answers with a code, no sign-in.
    other = await register_client(core_harness, "other-app")
    authorized = await core_harness.client.get(
        "/oauth/authorize", params=authorize_params(other, pkce()[1])
    )
    assert authorized.status_code == 302, authorized.text
    assert "code=" in authorized.headers["location"]
    assert not await core_harness.sql_value(
        "SELECT count(*) FROM sessions WHERE user_id = $1::uuid AND revoked_at IS NOT NULL",
        user["id"],
    )
