"""Limits on registration and on mail, held in atriz_shared; stale windows purged; IPv6 by /64."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import timedelta

import httpx
import pytest

from atriz_core.limits import address_bucket, email_bucket, purge_stale_limits
from atriz_core.settings import CoreSettings
from atriz_core.testing import TEST_PASSWORD, CoreHarness, running_core
from atriz_database import create_pool
from atriz_database.pool import close_pool

LIMITS = {"register_per_address": 2, "mail_per_address": 3, "mail_per_email": 2}


async def register(core: CoreHarness, email: str) -> httpx.Response:
    return await core.client.post(
        "/auth/register", json={"email": email, "password": TEST_PASSWORD, "name": "Ana"}
    )


async def reset(core: CoreHarness, email: str) -> httpx.Response:
    return await core.client.post("/auth/password-reset/request", json={"email": email})


async def test_registrations_from_one_address_are_limited(core_settings: CoreSettings) -> None:
    async with running_core(replace(core_settings, **LIMITS)) as core:
        assert (await register(core, "a@example.test")).status_code == 201
        assert (await register(core, "b@example.test")).status_code == 201

        limited = await register(core, "c@example.test")

        assert limited.status_code == 429
        assert limited.json()["detail"].startswith("too many registrations")
        assert 1 <= int(limited.headers["retry-after"]) <= 3600
        assert await core.sql_value("SELECT count(*) FROM users") == 2, "no user was created"
        core.clock.advance(3601)
        assert (await register(core, "c@example.test")).status_code == 201


async def test_concurrent_registrations_cannot_slip_past_the_limit(
    core_settings: CoreSettings,
) -> None:
    async with running_core(replace(core_settings, **LIMITS, hash_threads=2)) as core:
        responses = await asyncio.gather(
            *(register(core, f"user{n}@example.test") for n in range(8))
        )

        assert core.in_flight.peak > 1
        assert sorted(r.status_code for r in responses) == [201] * 2 + [429] * 6
        assert await core.sql_value("SELECT count(*) FROM users") == 2


async def test_reset_mail_to_one_address_is_limited_whether_or_not_it_has_an_account(
    core_settings: CoreSettings,
) -> None:
    async with running_core(replace(core_settings, **{**LIMITS, "mail_per_address": 10})) as core:
        await core.register()
        core.clock.advance(3601)  # the registration mail's window has passed
        for email in ("ana@example.test", "nobody@example.test"):
            first, second, third = [await reset(core, email) for _ in range(3)]
            assert (first.status_code, second.status_code) == (202, 202)
            assert third.status_code == 429
            assert third.json()["detail"] == "too many mails to this address; try again later"
        # The registration mail and two reset mails went to the account, none elsewhere.
        assert [m.to for m in core.mailer.sent] == ["ana@example.test"] * 3


async def test_mail_requests_from_one_address_are_limited(core_settings: CoreSettings) -> None:
    async with running_core(replace(core_settings, **LIMITS)) as core:
        statuses = [(await reset(core, f"x{n}@example.test")).status_code for n in range(4)]

        assert statuses == [202, 202, 202, 429]


async def test_verification_mail_requests_are_limited(core_settings: CoreSettings) -> None:
    async with running_core(replace(core_settings, **LIMITS)) as core:
        await core.register()  # the registration mail is the first of two
        headers = core.bearer(await core.login())

        statuses = [
            (await core.client.post("/auth/verify-email/request", headers=headers)).status_code
            for _ in range(2)
        ]

        assert statuses == [202, 429]


@pytest.mark.parametrize(
    ("address", "bucket"),
    [
        ("192.0.2.7", "192.0.2.7"),
        ("2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"),
        ("2001:db8:1:2::9", "2001:db8:1:2::/64"),
        ("::ffff:192.0.2.7", "192.0.2.7"),
        ("testclient", "testclient"),
        (None, None),
    ],
)
def test_ipv6_clients_are_counted_by_their_64(address: str | None, bucket: str | None) -> None:
    assert address_bucket(address) == bucket


async def test_target_emails_are_kept_hashed_and_case_folded(core_settings: CoreSettings) -> None:
    pool = await create_pool(core_settings.database_url)
    try:
        assert await email_bucket(pool, " Ana@Example.TEST ") == await email_bucket(
            pool, "ana@example.test"
        )
        assert "ana" not in await email_bucket(pool, "ana@example.test")
    finally:
        await close_pool(pool)


async def test_every_spelling_that_finds_one_account_shares_its_mail_limit(
    core_settings: CoreSettings,
) -> None:
    """The account is found by `citext`, folded by PostgreSQL, where `İ` (U+0130) is `i`;
    Python's casefold makes it `i` and a combining dot. Each spelling had a window of its own,
    and each mail went to the account: 3 times 2^k mails to an address with k `i`s."""
    limits = {**LIMITS, "mail_per_address": 100}
    async with running_core(replace(core_settings, **limits)) as core:
        await core.register(email="victim@example.test")
        core.clock.advance(3601)  # the registration mail's window has passed
        spellings = ["victim@example.test", "vİctim@example.test", "victİm@example.test"]
        statuses = [(await reset(core, spelling)).status_code for spelling in spellings]

        assert statuses == [202, 202, 429]
        assert [m.to for m in core.mailer.sent] == ["victim@example.test"] * 3


async def test_two_addresses_of_one_ipv6_64_share_the_login_limit(
    core_settings: CoreSettings,
) -> None:
    settings = replace(core_settings, address_max_failures=2)
    statuses = []
    for peer in ("2001:db8:1:2::1", "2001:db8:1:2::2", "2001:db8:1:2:ffff::3"):
        async with running_core(settings, peer=(peer, 4000)) as core:
            response = await core.client.post(
                "/auth/login", json={"email": "nobody@example.test", "password": "wrong"}
            )
            statuses.append(response.status_code)

    assert statuses == [401, 401, 429]


async def test_stale_limit_rows_are_purged_and_live_ones_kept(
    core_settings: CoreSettings,
) -> None:
    async with running_core(core_settings) as core:
        now = core.clock.now()
        await core.sql_value(
            "INSERT INTO login_throttle (client_address, failures, window_started_at)"
            " VALUES ('192.0.2.1', 3, $1), ('192.0.2.2', 3, $2)",
            now - timedelta(seconds=core_settings.address_window_seconds + 1),
            now,
        )
        await core.sql_value(
            "INSERT INTO request_limits (bucket, subject, hits, window_started_at)"
            " VALUES ('mail:email', 'old', 1, $1), ('mail:email', 'new', 1, $2)",
            now - timedelta(seconds=core_settings.request_limit_window_seconds + 1),
            now,
        )
    pool = await create_pool(core_settings.database_url)
    try:
        deleted = await purge_stale_limits(
            pool,
            now,
            address_window_seconds=core_settings.address_window_seconds,
            request_window_seconds=core_settings.request_limit_window_seconds,
        )
        left = await pool.fetch(
            "SELECT client_address AS key FROM login_throttle"
            " UNION ALL SELECT subject FROM request_limits ORDER BY 1"
        )
    finally:
        await close_pool(pool)

    assert deleted == 2
    assert [row["key"] for row in left] == ["192.0.2.2", "new"]
