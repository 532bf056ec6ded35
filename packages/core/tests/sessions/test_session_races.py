"""Rotation against revocation, sent truly at once: after any revocation commits, no token of
the session works, including one minted by a refresh running beside it (20 trials each)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import replace

import httpx
import pytest

from atriz_core.settings import CoreSettings
from atriz_core.testing import CoreHarness, running_core

TRIALS = 20
# Every trial registers a user from the one test address.
ROOMY = {"register_per_address": 100, "mail_per_address": 100}


async def refresh(core: CoreHarness, token: str) -> httpx.Response:
    return await core.client.post("/auth/refresh", json={"refresh_token": token})


async def refresh_back_to_back(core: CoreHarness, token: str, times: int) -> str:
    """Refresh as fast as possible; return the newest refresh token obtained."""
    for _ in range(times):
        response = await refresh(core, token)
        if response.status_code != 200:
            break
        token = response.json()["refresh_token"]
    return token


async def run_trials(
    core_settings: CoreSettings,
    revoke: Callable[[CoreHarness, dict[str, str], dict[str, str]], Awaitable[object]],
) -> None:
    survivors, overlapped = 0, 0
    async with running_core(replace(core_settings, hash_threads=2, **ROOMY)) as core:
        for trial in range(TRIALS):
            email = f"user{trial}@example.test"
            await core.register(email=email)
            first = await core.login(email=email)
            # The thief rotates the stolen token twice: the holder's token is now two
            # generations behind, so presenting it is a reuse whatever the grace window.
            second = (await refresh(core, first["refresh_token"])).json()
            stolen = (await refresh(core, second["refresh_token"])).json()
            core.in_flight.peak = 0

            newest, _ = await asyncio.gather(
                refresh_back_to_back(core, stolen["refresh_token"], times=5),
                revoke(core, first, stolen),
            )

            overlapped += core.in_flight.peak > 1
            if (await refresh(core, newest)).status_code == 200:
                survivors += 1
    assert overlapped >= TRIALS // 2, f"requests overlapped in only {overlapped} trials"
    assert survivors == 0, f"{survivors} of {TRIALS} stolen sessions survived revocation"


async def reuse_of_the_first_token(
    core: CoreHarness, first: dict[str, str], _: dict[str, str]
) -> object:
    return await refresh(core, first["refresh_token"])


async def logout_everywhere(core: CoreHarness, first: dict[str, str], _: dict[str, str]) -> object:
    return await core.client.post("/auth/logout-all", headers=core.bearer(first))


async def logout_of_the_session(
    core: CoreHarness, _: dict[str, str], stolen: dict[str, str]
) -> object:
    return await core.client.post("/auth/logout", json={"refresh_token": stolen["refresh_token"]})


@pytest.mark.slow
@pytest.mark.parametrize(
    "revoke",
    [reuse_of_the_first_token, logout_everywhere, logout_of_the_session],
    ids=["reuse detected", "logout-all", "logout"],
)
async def test_no_token_survives_a_concurrent_revocation(
    core_settings: CoreSettings,
    revoke: Callable[[CoreHarness, dict[str, str], dict[str, str]], Awaitable[object]],
) -> None:
    await run_trials(core_settings, revoke)


@pytest.mark.slow
async def test_no_token_survives_a_concurrent_deactivation(core_settings: CoreSettings) -> None:
    async with running_core(replace(core_settings, **ROOMY)) as core:
        admin = await core.admin_headers()
        survivors = 0
        for trial in range(TRIALS):
            email = f"user{trial}@example.test"
            user = await core.register(email=email)
            tokens = await core.login(email=email)
            newest, deactivated = await asyncio.gather(
                refresh_back_to_back(core, tokens["refresh_token"], times=5),
                core.client.post(f"/admin/users/{user['id']}/deactivate", headers=admin),
            )
            assert deactivated.status_code == 204, deactivated.text
            await core.sql_value("UPDATE users SET is_active = true WHERE id = $1", user["id"])
            # Even with the account active again, the revoked session stays ended.
            survivors += (await refresh(core, newest)).status_code == 200
        assert survivors == 0
