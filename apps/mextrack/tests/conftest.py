"""Mextrack under test: its real migrations, the kit's fixtures, real HTTP in the test's loop."""

from __future__ import annotations

import math
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from httpx import ASGITransport, AsyncClient
from litestar import Litestar

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
from atriz_mextrack.app import create_app
from atriz_mextrack.settings import DEFAULT_MAX_BODY_BYTES, MextrackSettings

SERVICE = "mextrack"
EARTH_RADIUS_M = 6371008.8


def haversine_m(a: tuple[float, float], b: tuple[float, float]) -> float:
    """The great-circle distance, computed here by hand to check the SQL."""
    lat1, lon1, lat2, lon2 = map(math.radians, (*a, *b))
    h = (
        math.sin((lat2 - lat1) / 2) ** 2
        + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    )
    return 2 * EARTH_RADIUS_M * math.asin(math.sqrt(h))


def point(
    at: datetime, latitude: float = 19.43, longitude: float = -99.13, **extra: Any
) -> dict[str, Any]:
    """One point as a tracker sends it."""
    return {
        "recorded_at": at.isoformat(),
        "latitude": latitude,
        "longitude": longitude,
        "speed_kmh": extra.pop("speed_kmh", 30.0),
        "heading": extra.pop("heading", 90.0),
        **extra,
    }


def drive(
    start: datetime, count: int, *, step_s: int = 10, lat: float = 19.43, lon: float = -99.13
) -> list[dict[str, Any]]:
    """`count` points heading east at about 36 km/h (0.0001 degrees of longitude per step)."""
    return [
        point(start + timedelta(seconds=step_s * i), lat, lon + 0.0001 * i * step_s / 10)
        for i in range(count)
    ]


@dataclass
class Mextrack(DirectSql):
    app: Litestar
    client: AsyncClient
    settings: MextrackSettings
    in_flight: InFlight
    made: list[str] = field(default_factory=list)

    async def vehicle(self, owner: TestUser, **fields: Any) -> dict[str, Any]:
        """A new vehicle of `owner`, through the API (201 asserted)."""
        body = {"name": "Van", "plate": f"T-{uuid.uuid4().hex[:8]}", **fields}
        response = await self.client.post("/vehicles", json=body, headers=owner.headers)
        assert response.status_code == 201, response.text
        created: dict[str, Any] = response.json()
        return created

    async def post_points(
        self, vehicle_id: str, points: list[dict[str, Any]], headers: dict[str, str]
    ) -> httpx.Response:
        return await self.client.post(
            f"/vehicles/{vehicle_id}/positions", json=points, headers=headers
        )

    async def store(
        self, vehicle_id: str, points: list[dict[str, Any]], headers: dict[str, str]
    ) -> dict[str, Any]:
        """Post a batch that must succeed; its counts."""
        response = await self.post_points(vehicle_id, points, headers)
        assert response.status_code == 200, response.text
        counts: dict[str, Any] = response.json()
        return counts


@pytest.fixture
def token_minter() -> TokenMinter:
    return TokenMinter()


@pytest.fixture
def mextrack_settings(
    migrated_database: DatabaseFactory, core_database_url: str, database_route: DatabaseRoute
) -> MextrackSettings:
    own = migrated_database("mextrack")
    assert own.core_url == core_database_url
    return MextrackSettings(
        service=SERVICE,
        environment=Environment.TEST,
        port=8002,
        cursor_secret=b"mextrack test cursor secret, 32b",
        max_body_bytes=DEFAULT_MAX_BODY_BYTES,
        **app_databases(
            database_route,
            own,
            DatabaseSettings(pool_min_size=1, pool_max_size=6, acquire_timeout=10),
        ),
    )


@pytest.fixture
def now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


@pytest.fixture
async def mextrack(
    mextrack_settings: MextrackSettings, token_minter: TokenMinter
) -> AsyncIterator[Mextrack]:
    """Mextrack serving (lifespan, event consumer, revocation feed, partitions ahead)."""
    app = create_app(mextrack_settings, verifier=token_minter.verifier(SERVICE))
    in_flight = InFlight()
    transport = ASGITransport(app=in_flight.wrap(app))  # type: ignore[arg-type]
    async with (
        serving(app),
        AsyncClient(transport=transport, base_url="http://mextrack.test") as client,
    ):
        yield Mextrack(app, client, mextrack_settings, in_flight)


@pytest.fixture
def helpers() -> Any:
    """The module-level helpers (test modules cannot import a conftest)."""

    return SimpleNamespace(point=point, drive=drive, haversine_m=haversine_m)
