"""PShop's database target: `pshop_db`, registered under the `atriz.databases` entry points."""

from pathlib import Path

from atriz_core.kit.references import user_reference
from atriz_database import DatabaseTarget

__all__ = ["target"]

_HERE = Path(__file__).parent
_REMOVED = "removed_users.user_id"

target = DatabaseTarget(
    name="pshop",
    database="pshop_db",
    url_env="PSHOP_DATABASE_URL",
    migrations=_HERE / "migrations",
    seeds=_HERE / "seeds",
    depends_on=("core",),
    # The shop keeps a removed user's id in its history (the till must balance, the ledger is
    # append-only) and records the removal in `removed_users`: `kept_in` tells the check so.
    references=(
        user_reference("sales.cashier_id", kept_in=_REMOVED),
        user_reference("sales.customer_id"),
        user_reference("sales.voided_by", kept_in=_REMOVED),
        user_reference("refunds.user_id", kept_in=_REMOVED),
        user_reference("stock_movements.user_id", kept_in=_REMOVED),
        user_reference("idempotency_keys.user_id"),
    ),
    repair="atriz_pshop.users:repair_references",
)
