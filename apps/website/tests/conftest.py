"""The website under test: its real migrations on the test's server, served in the test's
event loop (the kit's fixtures come from the root conftest), and small helpers that write
through the real routes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from atriz_core.testing import (
    DatabaseFactory,
    DirectSql,
    InFlight,
    TestUser,
    TokenMinter,
    app_databases,
    serving,
)
from atriz_database import DatabaseSettings, Environment
from atriz_database.testing import DatabaseRoute
from atriz_website.app import create_app
from atriz_website.settings import SERVICE, WebsiteSettings


@pytest.fixture
def website_settings(
    migrated_database: DatabaseFactory, core_database_url: str, database_route: DatabaseRoute
) -> WebsiteSettings:
    own = migrated_database("website")
    assert own.core_url == core_database_url
    return WebsiteSettings(
        service=SERVICE,
        environment=Environment.TEST,
        port=8001,
        cursor_secret=b"website test cursor secret, 32 b",
        **app_databases(
            database_route,
            own,
            DatabaseSettings(pool_min_size=1, pool_max_size=8, acquire_timeout=5),
        ),
    )


@dataclass
class Website(DirectSql):
    """The app serving, its client, and direct SQL on its database for checks and set-up."""

    app: Any
    client: httpx.AsyncClient
    settings: WebsiteSettings
    in_flight: InFlight

    async def create(self, user: TestUser, **fields: Any) -> dict[str, Any]:
        """A new draft through POST /articles (201 asserted)."""
        body = {"title": "An article", **fields}
        response = await self.client.post("/articles", json=body, headers=user.headers)
        assert response.status_code == 201, response.text
        created: dict[str, Any] = response.json()
        return created

    async def publish(
        self, user: TestUser, article: dict[str, Any], **fields: Any
    ) -> dict[str, Any]:
        """POST /articles/{id}/publish with the article's version (200 asserted)."""
        response = await self.client.post(
            f"/articles/{article['id']}/publish",
            json=fields or None,
            headers={**user.headers, "If-Match": f'"{article["version"]}"'},
        )
        assert response.status_code == 200, response.text
        published: dict[str, Any] = response.json()
        return published

    async def published(self, user: TestUser, **fields: Any) -> dict[str, Any]:
        """A new article, published now."""
        return await self.publish(user, await self.create(user, **fields))


@pytest.fixture
async def website(
    website_settings: WebsiteSettings, token_minter: TokenMinter
) -> AsyncIterator[Website]:
    """The website, serving (lifespan, user-event consumer and revocation feed running)."""
    in_flight = InFlight()
    app = create_app(website_settings, verifier=token_minter.verifier(SERVICE))
    transport = httpx.ASGITransport(app=in_flight.wrap(app))  # type: ignore[arg-type]
    async with (
        serving(app),
        httpx.AsyncClient(transport=transport, base_url="http://website.test") as client,
    ):
        yield Website(app, client, website_settings, in_flight)
