"""PShop's service: the kit's service builder, its controllers and its user-event policy."""

from __future__ import annotations

from litestar import Litestar

from atriz_core.client.verifier import TokenVerifier
from atriz_core.kit.service import app_service
from atriz_database.settings import load_env_file
from atriz_pshop.idempotency import expired_key_purger
from atriz_pshop.pages import home
from atriz_pshop.products.controllers import ProductController
from atriz_pshop.sales.controllers import SaleController
from atriz_pshop.settings import SETTINGS_STATE_KEY, PshopSettings
from atriz_pshop.stock.controllers import StockController
from atriz_pshop.users import apply_user_event

__all__ = ["create_app", "create_app_from_env"]


def create_app(settings: PshopSettings, *, verifier: TokenVerifier | None = None) -> Litestar:
    """The whole service. Tests pass a `verifier` that trusts their own signing key."""
    app = app_service(
        settings,
        route_handlers=[ProductController, StockController, SaleController, home],
        user_events=apply_user_event,
        verifier=verifier,
        description="Point of sale: the catalogue, stock and its ledger, sales and refunds.",
        lifespan=[expired_key_purger()],
    )
    app.state[SETTINGS_STATE_KEY] = settings
    return app


def create_app_from_env() -> Litestar:
    """The service from the environment (`.env` first): entry point `atriz.services`."""
    load_env_file()
    return create_app(PshopSettings.from_env())
