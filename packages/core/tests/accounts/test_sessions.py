"""Refresh rotation, reuse detection with a grace window, logout and logout-all."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Any

from atriz_core.sessions.services import end_every_session
from atriz_core.settings import CoreSettings
from atriz_core.testing import CoreHarness, beside, running_core


async def refresh(core_harness: CoreHarness, token: str) -> Any:
    return await core_harness.client.post("/auth/refresh", json={"refresh_token": token})


async def signed_in(core_harness: CoreHarness) -> dict[str, Any]:
    await core_harness.register()
    return await core_harness.login()


async def test_refresh_rotates_the_token_and_keeps_the_session(core_harness: CoreHarness) -> None:
    first = await signed_in(core_harness)

    response = await refresh(core_harness, first["refresh_token"])

    assert response.status_code == 200
    second = response.json()
    assert second["refresh_token"] != first["refresh_token"]
    me = await core_harness.client.get("/auth/me", headers=core_harness.bearer(second))
    assert me.status_code == 200
    assert (
        await core_harness.sql_value(
            "SELECT count(DISTINCT family_id) FROM auth_tokens WHERE token_type = 'refresh'",
        )
        == 1
    )
    assert (await refresh(core_harness, second["refresh_token"])).status_code == 200


async def test_reuse_after_the_grace_window_revokes_the_whole_session(
    core_harness: CoreHarness,
) -> None:
    first = await signed_in(core_harness)
    second = (await refresh(core_harness, first["refresh_token"])).json()
    core_harness.clock.advance(core_harness.settings.refresh_reuse_grace_seconds + 1)

    replay = await refresh(core_harness, first["refresh_token"])

    assert replay.status_code == 401
    assert "reused" in replay.json()["detail"]
    # The thief's replay ended the session for the legitimate holder too.
    assert (await refresh(core_harness, second["refresh_token"])).status_code == 401
    assert (
        await core_harness.sql_value(
            "SELECT count(*) FROM auth_events WHERE event_type = 'refresh_reuse'"
        )
        == 1
    )


async def test_a_detected_reuse_ends_the_sessions_access_tokens_at_the_apps_too(
    core_harness: CoreHarness,
) -> None:
    """The thief refreshed first; the victim's refresh then shows the reuse. Core refuses the
    thief's access token at once, and the apps must too, not in up to 15 minutes. The user's
    other sessions refresh past the revocation."""
    victim = await signed_in(core_harness)
    elsewhere = await core_harness.login()
    thief = (await refresh(core_harness, victim["refresh_token"])).json()
    core_harness.clock.advance(core_harness.settings.refresh_reuse_grace_seconds + 1)

    replay = await refresh(core_harness, victim["refresh_token"])

    assert replay.status_code == 401
    assert await core_harness.apps_refuse(thief["access_token"])
    core_harness.clock.advance(1)  # past the second of the revocation (`iat` has whole seconds)
    renewed = await refresh(core_harness, elsewhere["refresh_token"])
    assert renewed.status_code == 200
    assert not await core_harness.apps_refuse(renewed.json()["access_token"])


async def test_reuse_within_the_grace_window_keeps_the_session(core_harness: CoreHarness) -> None:
    first = await signed_in(core_harness)
    second = (await refresh(core_harness, first["refresh_token"])).json()
    core_harness.clock.advance(core_harness.settings.refresh_reuse_grace_seconds - 1)

    retried = await refresh(core_harness, first["refresh_token"])

    assert retried.status_code == 200
    assert (await refresh(core_harness, second["refresh_token"])).status_code == 200
    assert (await refresh(core_harness, retried.json()["refresh_token"])).status_code == 200


async def test_concurrent_refreshes_with_one_token_all_succeed_without_forking_the_session(
    core_harness: CoreHarness,
) -> None:
    first = await signed_in(core_harness)

    responses = await asyncio.gather(
        *(refresh(core_harness, first["refresh_token"]) for _ in range(5))
    )

    assert core_harness.in_flight.peak > 1, "the refreshes did not overlap"
    assert [r.status_code for r in responses] == [200] * 5, "five tabs at once all succeed"
    tokens = [r.json()["refresh_token"] for r in responses]
    assert len(set(tokens)) == 5
    # One tab refreshes again; once the grace window has passed, the four other tokens are
    # stale, and presenting one ends the whole session: no branch lives on.
    newest = (await refresh(core_harness, tokens[0])).json()["refresh_token"]
    core_harness.clock.advance(core_harness.settings.refresh_reuse_grace_seconds + 1)
    stale = await refresh(core_harness, tokens[1])
    assert stale.status_code == 401
    assert "reused" in stale.json()["detail"]
    assert (await refresh(core_harness, newest)).status_code == 401
    generations = await core_harness.sql_value("SELECT generation FROM sessions")
    assert generations == 3


async def test_only_the_previous_generation_is_accepted_within_the_grace_window(
    core_harness: CoreHarness,
) -> None:
    first = await signed_in(core_harness)
    second = (await refresh(core_harness, first["refresh_token"])).json()
    third = (await refresh(core_harness, second["refresh_token"])).json()

    # `second` is the previous generation, within the grace window: a retry, accepted.
    assert (await refresh(core_harness, second["refresh_token"])).status_code == 200
    # `first` is two generations back: a replay, even within the grace window.
    grandparent = await refresh(core_harness, first["refresh_token"])

    assert grandparent.status_code == 401
    assert "reused" in grandparent.json()["detail"]
    assert (await refresh(core_harness, third["refresh_token"])).status_code == 401


async def test_a_session_ends_at_its_absolute_lifetime_however_often_it_is_refreshed(
    core_settings: CoreSettings,
) -> None:
    settings = replace(core_settings, refresh_token_seconds=1800, session_max_seconds=3600)
    async with running_core(settings) as core:
        await core.register()
        token = (await core.login())["refresh_token"]
        for _ in range(3):  # refreshed every 1000 s: never idle for long
            core.clock.advance(1000)
            response = await refresh(core, token)
            assert response.status_code == 200
            token = response.json()["refresh_token"]
        outlived = await core.sql_value(
            "SELECT count(*) FROM auth_tokens t JOIN sessions s ON s.id = t.family_id"
            " WHERE t.expires_at > s.expires_at"
        )
        assert outlived == 0, "no refresh token outlives its session"
        core.clock.advance(601)  # 3601 s after the sign-in

        ended = await refresh(core, token)

        assert ended.status_code == 401


async def test_an_expired_or_unknown_refresh_token_is_refused(core_harness: CoreHarness) -> None:
    first = await signed_in(core_harness)
    assert (await refresh(core_harness, "made-up-token")).status_code == 401
    core_harness.clock.advance(core_harness.settings.refresh_token_seconds + 1)
    response = await refresh(core_harness, first["refresh_token"])
    assert response.status_code == 401
    assert response.json()["detail"] == "the refresh token is not valid; sign in again"


async def test_logout_ends_only_that_session(core_harness: CoreHarness) -> None:
    laptop = await signed_in(core_harness)
    phone = await core_harness.login()

    response = await core_harness.client.post(
        "/auth/logout", json={"refresh_token": laptop["refresh_token"]}
    )

    assert response.status_code == 204
    assert (await refresh(core_harness, laptop["refresh_token"])).status_code == 401
    assert (await refresh(core_harness, phone["refresh_token"])).status_code == 200
    again = await core_harness.client.post(
        "/auth/logout", json={"refresh_token": laptop["refresh_token"]}
    )
    assert again.status_code == 204


async def test_logout_all_ends_every_session(core_harness: CoreHarness) -> None:
    laptop = await signed_in(core_harness)
    phone = await core_harness.login()

    response = await core_harness.client.post(
        "/auth/logout-all", headers=core_harness.bearer(laptop)
    )

    assert response.status_code == 204
    assert (await refresh(core_harness, laptop["refresh_token"])).status_code == 401
    assert (await refresh(core_harness, phone["refresh_token"])).status_code == 401


async def test_logout_all_requires_a_token(core_harness: CoreHarness) -> None:
    response = await core_harness.client.post("/auth/logout-all")
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")


async def test_a_deactivated_user_cannot_refresh(core_harness: CoreHarness) -> None:
    tokens = await signed_in(core_harness)
    await core_harness.sql_value("UPDATE users SET is_active = false RETURNING 1")

    assert (await refresh(core_harness, tokens["refresh_token"])).status_code == 401


async def test_malformed_refresh_bodies_name_the_field(core_harness: CoreHarness) -> None:
    for body in ({}, {"refresh_token": 5}, {"refresh_token": ""}, {"refresh_token": "x" * 201}):
        response = await core_harness.client.post("/auth/refresh", json=body)
        assert response.status_code == 400
        assert response.json()["errors"][0]["field"] == "refresh_token"


async def test_every_session_of_every_user_can_be_ended_at_once(core_harness: CoreHarness) -> None:
    """`atriz users end-sessions`, after restoring an older atriz_shared: its sessions and
    refresh tokens had ended since, and are live again."""
    ana = await signed_in(core_harness)
    await core_harness.register(email="bob@example.test", name="Bob")
    bob = await core_harness.login(email="bob@example.test")
    connection = await beside(core_harness.settings.database_url)
    try:
        users, sessions = await end_every_session(connection, core_harness.clock.now)
    finally:
        await connection.close()

    assert (users, sessions) == (2, 2)
    for pair in (ana, bob):
        assert (await refresh(core_harness, pair["refresh_token"])).status_code == 401
        assert await core_harness.apps_refuse(pair["access_token"])
