"""Who may see and change which vehicles: one rule, used by every feature."""

from __future__ import annotations

from atriz_core.client.verifier import Principal

__all__ = ["DISPATCHER", "FLEET_ROLES", "sees_all"]

DISPATCHER = "mextrack.dispatcher"
FLEET_ROLES = (DISPATCHER, "admin")
"""Roles that see and manage every vehicle; anyone else sees only their own (404 for others)."""


def sees_all(principal: Principal) -> bool:
    """Whether `principal` sees every vehicle (a dispatcher or an admin)."""
    return principal.has_role(*FLEET_ROLES)
