"""Who may do what on the website."""

from __future__ import annotations

from atriz_core.client.verifier import Principal

__all__ = ["EDITOR", "EDITOR_ROLES", "is_editor"]

EDITOR = "website.editor"
EDITOR_ROLES = (EDITOR, "admin")
"""Roles that may see and change every article, whoever wrote it."""


def is_editor(principal: Principal) -> bool:
    return principal.has_role(*EDITOR_ROLES)
