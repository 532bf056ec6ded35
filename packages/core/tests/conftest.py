"""Fixtures of core's tests: the real auth app on a fresh database, with a frozen clock."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from atriz_core.app import create_app
from atriz_core.settings import CoreSettings
from atriz_core.testing import FrozenClock, MemoryMailer

PASSWORD = "a long and unusual passphrase"  # noqa: S105 - a test user's password


@dataclass
class Harness:
    """The app under test and what the test may steer: time, mail, settings."""

    app: Litestar
    client: AsyncTestClient[Litestar]
    clock: FrozenClock
    mailer: MemoryMailer
    settings: CoreSettings

    async def register(
        self, email: str = "ana@example.test", password: str = PASSWORD, name: str = "Ana"
    ) -> dict[str, Any]:
        response = await self.client.post(
            "/auth/register", json={"email": email, "password": password, "name": name}
        )
        assert response.status_code == 201, response.text
        body: dict[str, Any] = response.json()
        return body

    async def login(
        self, email: str = "ana@example.test", password: str = PASSWORD
    ) -> dict[str, Any]:
        response = await self.client.post(
            "/auth/login", json={"email": email, "password": password}
        )
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    @staticmethod
    def bearer(tokens: dict[str, Any]) -> dict[str, str]:
        return {"Authorization": f"Bearer {tokens['access_token']}"}


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    """Tests override core settings by overriding this fixture."""
    return {}


@pytest.fixture
async def harness(
    core_settings: CoreSettings, settings_overrides: dict[str, Any]
) -> AsyncIterator[Harness]:
    settings = replace(core_settings, **settings_overrides)
    clock, mailer = FrozenClock(), MemoryMailer()
    app = create_app(settings, clock=clock, mailer=mailer)
    async with AsyncTestClient(app=app, base_url="https://auth.atriz.test") as client:
        yield Harness(app, client, clock, mailer, settings)
