"""PShop's tests: the app serving in the test's event loop, and small helpers to make
products and sales through its own routes. The kit's fixtures come from the root conftest
(`pytest_plugins` may only be declared there)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from httpx import ASGITransport, AsyncClient, Response
from litestar import Litestar

from atriz_core.testing import (
    DatabaseFactory,
    DirectSql,
    InFlight,
    TestUser,
    TokenMinter,
    UserFactory,
    app_databases,
    serving,
)
from atriz_database import DatabaseSettings, Environment
from atriz_database.testing import DatabaseRoute
from atriz_pshop.app import create_app
from atriz_pshop.settings import PshopSettings

SERVICE = "pshop"
MANAGER, CASHIER = "pshop.manager", "pshop.cashier"


@pytest.fixture
def pshop_settings(
    migrated_database: DatabaseFactory, core_database_url: str, database_route: DatabaseRoute
) -> PshopSettings:
    own = migrated_database(SERVICE)
    assert own.core_url == core_database_url
    return PshopSettings(
        service=SERVICE,
        environment=Environment.TEST,
        port=8003,
        cursor_secret=b"pshop test cursor secret, 32 by.",
        timezone="Europe/Madrid",
        **app_databases(
            database_route,
            own,
            DatabaseSettings(pool_min_size=1, pool_max_size=10, acquire_timeout=20),
        ),
    )


@dataclass
class RunningPshop(DirectSql):
    """The app serving in the test's loop, its client, and helpers that go through its routes."""

    app: Litestar
    client: AsyncClient
    settings: PshopSettings
    in_flight: InFlight
    manager: TestUser
    cashier: TestUser
    keys: list[str] = field(default_factory=list)

    async def product(self, stock: int = 10, **overrides: Any) -> dict[str, Any]:
        """A new product (through `POST /products` as the manager) with `stock` on hand."""
        suffix = uuid.uuid4().hex[:10]
        body = {
            "sku": f"SKU-{suffix}",
            "name": f"Product {suffix}",
            "price_minor": 250,
            "currency": "EUR",
            "initial_stock": stock,
            **overrides,
        }
        response = await self.client.post("/products", json=body, headers=self.manager.headers)
        assert response.status_code == 201, response.text
        created: dict[str, Any] = response.json()
        return created

    async def sell(
        self,
        lines: list[tuple[str, int]] | list[dict[str, Any]],
        *,
        user: TestUser | None = None,
        key: str | None = None,
        **extra: Any,
    ) -> Response:
        """`POST /sales` with a fresh Idempotency-Key (or `key`) as the cashier (or `user`)."""
        body_lines = [
            line if isinstance(line, dict) else {"product_id": line[0], "quantity": line[1]}
            for line in lines
        ]
        headers = {
            **(user or self.cashier).headers,
            "Idempotency-Key": key or str(uuid.uuid4()),
        }
        return await self.client.post(
            "/sales", json={"lines": body_lines, **extra}, headers=headers
        )

    async def on_hand(self, product_id: str) -> int:
        value: int = await self.sql(
            "SELECT on_hand FROM inventory WHERE product_id = $1", uuid.UUID(product_id)
        )
        return value

    async def ledger(self, product_id: str) -> int:
        value: int = await self.sql(
            "SELECT COALESCE(sum(quantity), 0) FROM stock_movements WHERE product_id = $1",
            uuid.UUID(product_id),
        )
        return value

    async def assert_reconciled(self) -> None:
        """On-hand equals the ledger's sum for every product, by the app's own report."""
        report = await self.client.get("/stock/reconciliation", headers=self.manager.headers)
        assert report.status_code == 200, report.text
        assert report.json()["drift"] == []


@pytest.fixture
def token_minter() -> TokenMinter:
    return TokenMinter(audiences=(SERVICE,))


@pytest.fixture
async def pshop(
    pshop_settings: PshopSettings, token_minter: TokenMinter, make_user: UserFactory
) -> AsyncIterator[RunningPshop]:
    """PShop serving (lifespan, consumer and revocation feed running), with a manager and a
    cashier."""
    app = create_app(pshop_settings, verifier=token_minter.verifier(SERVICE))
    in_flight = InFlight()
    transport = ASGITransport(app=in_flight.wrap(app))
    manager = await make_user(roles=(MANAGER,))
    cashier = await make_user(roles=(CASHIER,))
    async with (
        serving(app),
        AsyncClient(transport=transport, base_url="http://pshop.test") as client,
    ):
        yield RunningPshop(app, client, pshop_settings, in_flight, manager, cashier)
