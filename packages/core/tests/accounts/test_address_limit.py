"""Too many failed logins from one client address: 429 with Retry-After, shared by all processes."""

from __future__ import annotations

from typing import Any

import pytest

from atriz_core.testing import CoreHarness


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
