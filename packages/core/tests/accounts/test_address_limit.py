"""Too many failed logins from one client address: 429 with Retry-After, shared by all processes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

import pytest

from atriz_core.kit.forwarded import parse_networks
from atriz_core.settings import CoreSettings
from atriz_core.testing import CoreHarness, running_core

PROXY = {"trusted_proxies": parse_networks("10.0.0.0/8")}


@pytest.fixture
def core_overrides() -> dict[str, Any]:
    return {"address_max_failures": 3, "address_window_seconds": 600}


async def failed_login(core_harness: CoreHarness, email: str) -> int:
    response = await core_harness.client.post(
        "/auth/login", json={"email": email, "password": "wrong"}
    )
    return response.status_code


async def test_too_many_failures_from_one_address_get_429(core_harness: CoreHarness) -> None:
    for n in range(3):
        assert await failed_login(core_harness, f"u{n}@example.test") == 401

    limited = await core_harness.client.post(
        "/auth/login", json={"email": "other@example.test", "password": "wrong"}
    )

    assert limited.status_code == 429
    assert limited.json()["status"] == 429
    assert 1 <= int(limited.headers["retry-after"]) <= 600
    core_harness.clock.advance(601)
    assert await failed_login(core_harness, "other@example.test") == 401


@pytest.fixture
async def via_proxy(
    core_settings: CoreSettings, core_overrides: dict[str, Any]
) -> AsyncIterator[CoreHarness]:
    """Core reached through a reverse proxy at 10.0.0.5: every request's peer is the proxy."""
    settings = replace(core_settings, **core_overrides)
    async with running_core(settings, peer=("10.0.0.5", 40000)) as harness:
        yield harness


async def login_via(proxied: CoreHarness, forwarded_for: str) -> int:
    response = await proxied.client.post(
        "/auth/login",
        json={"email": "nobody@example.test", "password": "wrong"},
        headers={"X-Forwarded-For": forwarded_for},
    )
    return response.status_code


async def test_an_untrusted_peer_cannot_dodge_the_limit_with_x_forwarded_for(
    via_proxy: CoreHarness,
) -> None:
    # No proxy is configured: 10.0.0.5 is the client, whatever the header says.
    codes = [await login_via(via_proxy, f"198.51.100.{n}") for n in range(4)]

    assert codes == [401, 401, 401, 429]


@pytest.mark.parametrize("core_overrides", [{"address_max_failures": 3, **PROXY}])
async def test_behind_a_trusted_proxy_each_client_has_its_own_limit(
    via_proxy: CoreHarness,
) -> None:
    # The client prepends addresses of its own; only the proxy's last entry is believed.
    mallory = [await login_via(via_proxy, f"198.51.100.{n}, 203.0.113.9") for n in range(4)]
    alice = await login_via(via_proxy, "192.0.2.44")

    assert mallory == [401, 401, 401, 429]
    assert alice == 401
    recorded = await via_proxy.sql_value(
        "SELECT array_agg(DISTINCT client_address ORDER BY client_address) FROM auth_events"
    )
    assert recorded == ["192.0.2.44", "203.0.113.9"]
