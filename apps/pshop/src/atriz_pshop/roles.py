"""The roles PShop's routes ask for (core's migration creates them)."""

__all__ = ["ADMIN", "CASHIER", "MANAGER", "SELLERS", "STAFF"]

ADMIN = "admin"
MANAGER = "pshop.manager"
CASHIER = "pshop.cashier"
STAFF = (MANAGER, ADMIN)
"""Who manages the catalogue, stock, voids and refunds."""
SELLERS = (CASHIER, MANAGER, ADMIN)
"""Who rings up sales and reads stock."""
