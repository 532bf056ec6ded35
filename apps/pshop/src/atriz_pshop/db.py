"""PShop's database target: `pshop_db`, registered under the `atriz.databases` entry points."""

from pathlib import Path

from atriz_database import DatabaseTarget, Reference

__all__ = ["target"]

_HERE = Path(__file__).parent

target = DatabaseTarget(
    name="pshop",
    database="pshop_db",
    url_env="PSHOP_DATABASE_URL",
    migrations=_HERE / "migrations",
    seeds=_HERE / "seeds",
    depends_on=("core",),
    references=(
        Reference("sales.cashier_id", "core", "users.id"),
        Reference("sales.customer_id", "core", "users.id"),
        Reference("sales.voided_by", "core", "users.id"),
        Reference("refunds.user_id", "core", "users.id"),
        Reference("stock_movements.user_id", "core", "users.id"),
        Reference("idempotency_keys.user_id", "core", "users.id"),
    ),
)
