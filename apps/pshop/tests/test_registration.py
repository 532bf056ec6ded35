"""PShop registers its database target and its service through entry points, as core does."""

from __future__ import annotations

from atriz_database.services import load_services
from atriz_database.targets import TargetRegistry


def test_the_target_and_the_service_are_registered() -> None:
    target = TargetRegistry.from_entry_points().get("pshop")
    service = load_services()["pshop"]

    assert (target.database, target.url_env, target.depends_on) == (
        "pshop_db",
        "PSHOP_DATABASE_URL",
        ("core",),
    )
    assert {reference.column for reference in target.references} >= {
        "sales.cashier_id",
        "sales.customer_id",
        "stock_movements.user_id",
    }
    assert (service.app_factory, service.port_env, service.default_port) == (
        "atriz_pshop.app:create_app_from_env",
        "PSHOP_PORT",
        8003,
    )
